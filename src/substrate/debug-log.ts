/**
 * A server's periodic debug log: with NEWTOS_DEBUG_TCP_MS=<ms> in the environment, `due(now)`
 * is true at most once every that many ms (never when it is unset or 0), and the server
 * then logs what it wants to show (`if (debug.due(now)) ctx.log('ip-debug', {...})`).
 */
export class DebugEvery {
  readonly everyMs: number;
  private next = 0;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    const ms = Number(env['NEWTOS_DEBUG_TCP_MS'] ?? 0);
    this.everyMs = Number.isFinite(ms) && ms > 0 ? ms : 0;
  }

  /** True when a log is due at `now` (and the next one is then everyMs later). */
  due(now: number): boolean {
    if (this.everyMs === 0 || now < this.next) return false;
    this.next = now + this.everyMs;
    return true;
  }
}
