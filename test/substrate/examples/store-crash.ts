/**
 * Example server for the supervisor's store-ordering test: each generation below `crashes` + 1
 * records what it found in its store at start (under `seen-<generation>`), then on its first
 * poll writes key 'n' `writes` times (values { i: 1..writes, gen }, padded so that the reports
 * queue up) and crashes; the last generation only records what it found and idles.
 *
 * options: { writes: number, crashes: number }
 */
import type { ServerContext, ServerCore } from '../../../src/substrate/server.js';

export function createServer(ctx: ServerContext): ServerCore {
  const writes = Number(ctx.options.writes ?? 100);
  const crashes = Number(ctx.options.crashes ?? 1);
  const found = ctx.store.get('n');
  let done = false;
  return {
    onMessage: () => true,
    poll() {
      if (done) return;
      done = true;
      ctx.store.set(`seen-${ctx.generation}`, found ?? null);
      if (ctx.generation > crashes) return;
      const pad = 'x'.repeat(512);
      for (let i = 1; i <= writes; i++) ctx.store.set('n', { i, gen: ctx.generation, pad });
      throw new Error('crash right after the store writes');
    },
    pollAt: () => (done ? Infinity : 0),
  };
}
