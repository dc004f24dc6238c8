/**
 * The application's side of a socket table's one wake-up (src/abi/table-events.ts): the
 * sockets of the table that wait for an event register here, and one loop per table takes
 * the slots the server marked ready and ends their waits. While it keeps finding some, the
 * loop looks again from setImmediate instead of sleeping, and after LOOK_MS without any it
 * sleeps on the table's word (one waitAsync for every socket of the table). So under load
 * the server's events cost it memory writes and the application no wake-up at all; idle,
 * the application sleeps and one notify wakes it for every socket marked meanwhile.
 */
import { S_EVENT_SEQ, type SocketBlock, type SocketOpStats } from '../abi/socket-block.js';
import type { SocketTable } from '../abi/socket-table.js';
import { H_APP_SEQ, type TableEvents } from '../abi/table-events.js';
import { waitAsync } from '../substrate/doorbell.js';
import type { AppOutput } from './app-link.js';

/**
 * How long the loop keeps looking without finding a ready socket before it sleeps. A look
 * is a few memory reads; the event loop's turn around it (setImmediate) some microseconds.
 * Long enough to take the next event of a request/response exchange that is in flight (the
 * peer's answer crosses the stack in tens of microseconds under load), short enough that an
 * idle application sleeps at once.
 */
const LOOK_MS = 0.05;

interface Waiter {
  readonly block: SocketBlock;
  readonly seq: number;
  readonly resolve: () => void;
}

const enum LoopState { Idle, Looking, Sleeping }

export class SocketEvents {
  private readonly waiters = new Map<number, Waiter>();
  private state = LoopState.Idle;
  private lastFound = 0;
  private closed = false;
  /** Times the loop slept, and woke because the server notified (stats and tests). */
  sleeps = 0;

  constructor(private readonly events: TableEvents) {}

  /**
   * Resolves once the socket at `slot` has an event after `seenSeq` (its S_EVENT_SEQ
   * differs): at once if it already has. The caller set A_WAITING before reading nothing
   * ready (socket-block.ts's rules), so the server marks the slot for any later event.
   */
  wait(slot: number, block: SocketBlock, seenSeq: number): Promise<void> {
    if (Atomics.load(block.ctrl, S_EVENT_SEQ) !== seenSeq) return Promise.resolve();
    // After close no server runs: an event can only be the stack's own (abandonSockets).
    if (this.closed) return new Promise<void>(() => undefined);
    return new Promise<void>((resolve) => {
      this.waiters.get(slot)?.resolve();
      this.waiters.set(slot, { block, seq: seenSeq, resolve });
      if (this.state === LoopState.Idle) {
        this.state = LoopState.Looking;
        this.lastFound = performance.now();
        setImmediate(this.look);
      }
    });
  }

  /** Ends the wait of `slot` (its socket is closing); its owner sees the socket gone. */
  cancel(slot: number): void {
    const w = this.waiters.get(slot);
    if (w === undefined) return;
    this.waiters.delete(slot);
    w.resolve();
  }

  /**
   * The servers are gone and every socket was told so (StackClient.abandonSockets): ends
   * every wait and the loop.
   */
  close(): void {
    this.closed = true;
    for (const slot of [...this.waiters.keys()]) this.cancel(slot);
    if (this.state === LoopState.Sleeping) this.events.wakeSelf();
  }

  private readonly onReady = (slot: number): void => {
    const w = this.waiters.get(slot);
    // A mark older than the wait (the socket has seen that event): the next event marks again.
    if (w === undefined || Atomics.load(w.block.ctrl, S_EVENT_SEQ) === w.seq) return;
    this.waiters.delete(slot);
    w.resolve();
  };

  private readonly look = (): void => {
    const now = performance.now();
    if (this.events.takeReady(this.onReady) > 0) this.lastFound = now;
    if (this.waiters.size === 0 || this.closed) {
      this.state = LoopState.Idle;
      return;
    }
    if (now - this.lastFound < LOOK_MS) {
      setImmediate(this.look);
      return;
    }
    this.sleep();
  };

  private sleep(): void {
    const seq = this.events.seq();
    this.events.parked(true);
    if (this.events.takeReady(this.onReady) > 0) {
      this.events.parked(false);
      this.lastFound = performance.now();
      setImmediate(this.look);
      return;
    }
    this.state = LoopState.Sleeping;
    this.sleeps++;
    // Unref'd: a socket's wait does not keep the process alive (its owner holds what should).
    // The timeout only bounds a lost notify (doorbell.ts counts those as late wakes).
    void waitAsync(this.events.header, H_APP_SEQ, seq, 60_000, false).then(() => {
      this.events.parked(false);
      this.state = LoopState.Looking;
      this.lastFound = performance.now();
      this.look();
    });
  }
}

/**
 * The kicks' side: one ring of a transport server's doorbell for all kicks of one turn of the
 * application's event loop (a microtask), which wakes the server only if it sleeps. The
 * sockets an event batch serves kick one after the other, and a ring per kick would find the
 * server still asleep each time (a woken thread takes tens of microseconds to run here).
 */
export class KickRing {
  private pending = false;

  constructor(private readonly toServer: AppOutput, private readonly table: TableEvents) {}

  /** `slot` has work for the server: mark it, ring once this turn. */
  kick(slot: number): void {
    this.table.markKick(slot);
    if (this.pending) return;
    this.pending = true;
    queueMicrotask(this.fire);
  }

  private readonly fire = (): void => {
    this.pending = false;
    if (this.toServer.wake()) this.table.kickWoke();
  };
}

/** Adds the wake-ups of tables with one for all their sockets (counted by the table, not its sockets). */
export function addTableWakes(into: SocketOpStats, tables: readonly SocketTable[]): SocketOpStats {
  for (const t of tables) {
    into.serverWakeMessages += t.events?.wakes() ?? 0;
    into.appWakeMessages += t.events?.kickWakes() ?? 0;
  }
  return into;
}
