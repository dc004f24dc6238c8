/**
 * The application thread's ends of its channels to the stack's servers. The
 * application is not a server: it must never block, so it publishes messages
 * on rings like any producer (ringing the consumer's doorbell only when that
 * server sleeps), and waits for its own input ring with Atomics.waitAsync on
 * its own doorbell (DoorbellSleeper.parkAsync), which keeps the process alive
 * while pending.
 *
 * A message that does not fit because a ring is full is kept in a local
 * queue, in order, and retried on the next send and from a short timer: the
 * application never loses a control message and never spins.
 */
import { DoorbellRinger, DoorbellSleeper } from '../substrate/doorbell.js';
import { MessageView } from '../substrate/message.js';
import { NO_POOL } from '../substrate/layout.js';
import { RingReader, RingWriter } from '../substrate/ring.js';
import { Outbox } from '../substrate/outbox.js';
import { outgoing, type AnyMessageKind, type Outgoing, type ValuesOf } from '../abi/message-args.js';

/** Raw shared memory of one application channel, as the supervisor created it. */
export interface AppChannelMemory {
  readonly ring: SharedArrayBuffer;
  /** Doorbell of the thread at the other end (for outputs) or of the app (for inputs). */
  readonly doorbell: SharedArrayBuffer;
  /** For inputs: the producer's doorbell, rung after freeing slots when it waits for space. */
  readonly producerDoorbell?: SharedArrayBuffer;
}

export class AppOutput {
  private readonly writer: RingWriter;
  private readonly ringer: DoorbellRinger;
  private readonly view: MessageView;
  private readonly backlog = new Outbox<Outgoing>((o) => this.tryPut(o));
  private retry: NodeJS.Timeout | undefined;
  private seq = 0;
  /** Messages published, and how many needed a doorbell notify. */
  sent = 0;
  wakeups = 0;

  constructor(mem: AppChannelMemory, private readonly generation = 1) {
    this.writer = new RingWriter(mem.ring);
    this.ringer = new DoorbellRinger(mem.doorbell);
    this.view = new MessageView(this.writer.words);
  }

  /** Queue and publish one message (`send(TcpKick, { slot })`); never fails (a full ring defers it). */
  send<K extends AnyMessageKind>(kind: K, values: ValuesOf<K>): void {
    if (!this.backlog.send(outgoing(kind, values))) {
      this.scheduleRetry();
      return;
    }
    this.flush();
  }

  /**
   * Wakes the server at the other end if it sleeps, with no message (it has work marked in
   * shared memory: table-events.ts kicks). true if it slept.
   */
  wake(): boolean {
    if (!this.ringer.ring()) return false;
    this.wakeups++;
    return true;
  }

  private tryPut(o: Outgoing): boolean {
    const at = this.writer.reserve();
    if (at < 0) return false;
    const v = this.view.at(at);
    o.kind.write(v, o.values, (this.seq = (this.seq + 1) >>> 0)).setGen(this.generation);
    v.setPointer(NO_POOL, 0, 0, 0);
    this.writer.commit();
    return true;
  }

  private flush(): void {
    const n = this.writer.publish();
    if (n > 0) {
      this.sent += n;
      if (this.ringer.ring()) this.wakeups++;
    }
  }

  private scheduleRetry(): void {
    if (this.retry !== undefined) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.backlog.retry();
      this.flush();
      if (this.backlog.length > 0) this.scheduleRetry();
    }, 1);
  }

  close(): void {
    if (this.retry !== undefined) clearTimeout(this.retry);
    this.retry = undefined;
  }
}

/** One input ring of the application and what handles its messages. */
interface InputRing {
  readonly reader: RingReader;
  readonly producer: DoorbellRinger | undefined;
  readonly view: MessageView;
  fn: ((msg: MessageView) => void) | null;
}

/**
 * The application's input rings. They all share the application's one
 * doorbell (the supervisor gives an external party one doorbell), so one loop
 * drains every ring and parks once: two loops parking on one doorbell would
 * clear each other's sleeping flag and lose wake-ups.
 */
export class AppInput {
  private readonly rings: InputRing[] = [];
  private readonly sleeper: DoorbellSleeper;
  private running = false;
  private stopped = false;

  constructor(mem: AppChannelMemory) {
    this.sleeper = new DoorbellSleeper(mem.doorbell);
    this.rings.push(AppInput.ring(mem));
  }

  private static ring(mem: AppChannelMemory): InputRing {
    const reader = new RingReader(mem.ring);
    return {
      reader, view: new MessageView(reader.words), fn: null,
      producer: mem.producerDoorbell === undefined ? undefined : new DoorbellRinger(mem.producerDoorbell),
    };
  }

  /**
   * Another input ring of the same party (same doorbell), drained by the same
   * loop; its messages go to `fn`. Call before or after start().
   */
  attach(mem: AppChannelMemory, fn: (msg: MessageView) => void): void {
    const r = AppInput.ring(mem);
    r.fn = fn;
    this.rings.push(r);
  }

  /** Deliver every message of the first ring to `fn` (attached rings to theirs) until stop(); waits asynchronously between batches. */
  start(fn: (msg: MessageView) => void): void {
    if (this.running) return;
    this.running = true;
    this.rings[0]!.fn = fn;
    const loop = async (): Promise<void> => {
      while (!this.stopped) {
        for (const r of this.rings) if (r.fn !== null) AppInput.drainRing(r, r.fn);
        if (this.stopped) break;
        // Park until a producer rings (it rings only when we said we sleep).
        // Unref'd: what waits for a message here (a connect, a listener, a ping) holds the
        // process itself; the loop alone must not, or an application could never exit without close().
        await this.sleeper.parkAsync(1000, () => !this.stopped && this.rings.every((r) => r.reader.peek() < 0), false);
      }
    };
    void loop();
  }

  /** Deliver what waits in the first ring to `fn` now. */
  drain(fn: (msg: MessageView) => void): number {
    return AppInput.drainRing(this.rings[0]!, fn);
  }

  private static drainRing(r: InputRing, fn: (msg: MessageView) => void): number {
    let n = 0;
    for (let at = r.reader.peek(); at >= 0; at = r.reader.peek()) {
      fn(r.view.at(at));
      r.reader.advance();
      n++;
    }
    if (n > 0) {
      r.reader.release();
      if (r.reader.writerWaiting()) r.producer?.ring();
    }
    return n;
  }

  stop(): void {
    this.stopped = true;
    // Wake our own parked wait so the loop ends now.
    new DoorbellRinger(this.sleeper.words.buffer as SharedArrayBuffer).ringAlways();
  }
}
