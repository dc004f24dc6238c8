/**
 * The application's side of a socket table's one wake-up (src/abi/table-events.ts): the
 * sockets of the table that wait for an event register here, and one loop per application
 * thread (over all its tables) takes the slots the servers marked ready and ends their
 * waits. While it keeps finding some, the loop looks again from setImmediate instead of
 * sleeping, and after LOOK_MS without any it parks every table (one waitAsync for all the
 * sockets of a table). So under load the servers' events cost them memory writes and the
 * application no wake-up at all; idle, the application sleeps and one notify wakes it for
 * every socket marked meanwhile, in every table.
 */
import { S_EVENT_SEQ, type SocketBlock, type SocketOpStats } from '../abi/socket-block.js';
import type { SocketTable } from '../abi/socket-table.js';
import { H_APP_PARKED, H_APP_SEQ, type TableEvents } from '../abi/table-events.js';
import { NewtosError } from '../errors.js';
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
  /** @internal The looker's bookkeeping of this table. */
  readonly waiters = new Map<number, Waiter>();
  /** @internal Parked: H_APP_PARKED is ours and a notify would wake us. */
  sleeping = false;
  /** @internal A waitAsync on H_APP_SEQ is outstanding (at most one per table). */
  pending = false;
  /** @internal */
  closed = false;
  /** Times the table slept, and woke because the server notified (stats and tests). */
  sleeps = 0;

  constructor(readonly events: TableEvents, private readonly looker: Looker = threadLooker()) {}

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
      this.looker.activate(this);
    });
  }

  /**
   * Ends the wait of `slot` now: its socket is closing (its owner then sees it gone), or its
   * owner has something else to wait for (a UDP socket's queued sends need room too).
   */
  cancel(slot: number): void {
    const w = this.waiters.get(slot);
    if (w === undefined) return;
    this.waiters.delete(slot);
    w.resolve();
  }

  /**
   * The servers are gone and every socket was told so (StackClient.abandonSockets): ends
   * every wait and the table's part in the loop.
   */
  close(): void {
    this.closed = true;
    for (const slot of [...this.waiters.keys()]) this.cancel(slot);
    this.sleeping = false;
    this.events.parked(false);
    // The outstanding waitAsync (its timer) goes now rather than at its timeout.
    if (this.pending) this.events.wakeSelf();
  }

  /** @internal Ends the waits of the slots the server marked; how many it found. */
  take(): number {
    return this.events.takeReady(this.onReady);
  }

  private readonly onReady = (slot: number): void => {
    const w = this.waiters.get(slot);
    // A mark older than the wait (the socket has seen that event): the next event marks again.
    if (w === undefined || Atomics.load(w.block.ctrl, S_EVENT_SEQ) === w.seq) return;
    this.waiters.delete(slot);
    w.resolve();
  };
}

/**
 * The loop of one application thread over every table it waits on (a stack's TCP and UDP
 * tables, its replicas' tables, several stacks in one process): it looks at all of them
 * from setImmediate while any yields events and parks all of them only after LOOK_MS
 * without any. A table parked while the thread is busy with another would cost a notify
 * (a message) for each of its events; a table that wakes the thread un-parks the others.
 * Each parked table has one waitAsync outstanding, kept across parks until a notify or
 * its timeout ends it: the park protocol (table-events.ts: park, then look once more) lets
 * a wait registered earlier stand for a later park.
 */
export class Looker {
  private readonly active = new Set<SocketEvents>();
  private state = LoopState.Idle;
  private lastFound = 0;

  /** `t` has a new wait: make sure the loop covers it. */
  activate(t: SocketEvents): void {
    this.active.add(t);
    if (this.state === LoopState.Idle) {
      this.state = LoopState.Looking;
      this.lastFound = performance.now();
      setImmediate(this.look);
    } else if (this.state === LoopState.Sleeping && !t.sleeping && !this.park(t)) {
      this.wakeAll();
      setImmediate(this.look);
    }
  }

  private readonly look = (): void => {
    const now = performance.now();
    let found = 0;
    for (const t of this.active) {
      found += t.take();
      if (t.waiters.size === 0 || t.closed) this.active.delete(t);
    }
    if (found > 0) this.lastFound = now;
    if (this.active.size === 0) {
      this.state = LoopState.Idle;
      return;
    }
    if (now - this.lastFound < LOOK_MS) {
      setImmediate(this.look);
      return;
    }
    this.state = LoopState.Sleeping;
    for (const t of this.active) {
      if (!this.park(t)) {
        this.wakeAll();
        setImmediate(this.look);
        return;
      }
    }
  };

  /**
   * Parks table `t` (table-events.ts's order: read H_APP_SEQ, raise H_APP_PARKED, look once
   * more, wait on the value read). False when that last look found events (not parked).
   */
  private park(t: SocketEvents): boolean {
    const seq = t.events.seq();
    t.events.parked(true);
    if (t.take() > 0) {
      t.events.parked(false);
      return false;
    }
    t.sleeping = true;
    t.sleeps++;
    if (!t.pending) {
      t.pending = true;
      // Unref'd: a socket's wait does not keep the process alive (its owner holds what should).
      // The timeout only bounds a lost notify (doorbell.ts counts those as late wakes): one
      // was lost if the table is parked and a server took the parked word (it notifies then).
      // H_APP_SEQ itself moves while the table is un-parked with this wait outstanding.
      const late = (): boolean => t.sleeping && Atomics.load(t.events.header, H_APP_PARKED) === 0;
      void waitAsync(t.events.header, H_APP_SEQ, seq, 60_000, false, late).then(() => {
        t.pending = false;
        if (!t.sleeping) return; // un-parked meanwhile: the loop looks at it anyway
        this.wakeAll();
        this.look();
      });
    }
    return true;
  }

  /** Un-parks every table (the thread is up and will look at all of them). */
  private wakeAll(): void {
    for (const t of this.active) {
      if (!t.sleeping) continue;
      t.sleeping = false;
      t.events.parked(false);
    }
    this.state = LoopState.Looking;
    this.lastFound = performance.now();
  }
}

let looker: Looker | undefined;

/** This thread's loop (module state is per thread: each worker has its own). */
function threadLooker(): Looker {
  looker ??= new Looker();
  return looker;
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

/**
 * Per replica's table: the loop that ends its sockets' waits and the ring of its kicks to the
 * server behind `toServer[r]`. The clients require the table's wake-up (ERR_INTERNAL without).
 */
export function tableWakeUps(kind: 'TCP' | 'UDP', tables: readonly SocketTable[], toServer: readonly AppOutput[]): { events: SocketEvents[]; kickRings: KickRing[] } {
  const events: SocketEvents[] = [];
  const kickRings: KickRing[] = [];
  tables.forEach((t, r) => {
    const out = toServer[r];
    if (t.events === undefined || out === undefined) throw new NewtosError('ERR_INTERNAL', `a ${kind} socket table without its wake-up word or its server's channel`);
    events.push(new SocketEvents(t.events));
    kickRings.push(new KickRing(out, t.events));
  });
  return { events, kickRings };
}

/** Adds the wake-ups of tables with one for all their sockets (counted by the table, not its sockets). */
export function addTableWakes(into: SocketOpStats, tables: readonly SocketTable[]): SocketOpStats {
  for (const t of tables) {
    into.serverWakeMessages += t.events?.wakes() ?? 0;
    into.appWakeMessages += t.events?.kickWakes() ?? 0;
  }
  return into;
}
