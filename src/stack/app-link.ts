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

/** Raw shared memory of one application channel, as the supervisor created it. */
export interface AppChannelMemory {
  readonly ring: SharedArrayBuffer;
  /** Doorbell of the thread at the other end (for outputs) or of the app (for inputs). */
  readonly doorbell: SharedArrayBuffer;
  /** For inputs: the producer's doorbell, rung after freeing slots when it waits for space. */
  readonly producerDoorbell?: SharedArrayBuffer;
}

type Args = [number, number, number, number, number, number];

export class AppOutput {
  private readonly writer: RingWriter;
  private readonly ringer: DoorbellRinger;
  private readonly view: MessageView;
  private readonly backlog: { type: number; args: Args }[] = [];
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

  /** Queue and publish one message; never fails (a full ring defers it). */
  send(type: number, a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0): void {
    const args: Args = [a0, a1, a2, a3, a4, a5];
    if (this.backlog.length > 0 || !this.tryPut(type, args)) {
      this.backlog.push({ type, args });
      this.scheduleRetry();
      return;
    }
    this.flush();
  }

  private tryPut(type: number, args: Args): boolean {
    const at = this.writer.reserve();
    if (at < 0) return false;
    const v = this.view.at(at);
    v.set(type, this.generation, (this.seq = (this.seq + 1) >>> 0));
    v.setPointer(NO_POOL, 0, 0, 0);
    for (let i = 0; i < 6; i++) v.setArg(i, args[i]!);
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
      while (this.backlog.length > 0 && this.tryPut(this.backlog[0]!.type, this.backlog[0]!.args)) this.backlog.shift();
      this.flush();
      if (this.backlog.length > 0) this.scheduleRetry();
    }, 1);
  }

  close(): void {
    if (this.retry !== undefined) clearTimeout(this.retry);
    this.retry = undefined;
  }
}

export class AppInput {
  private readonly reader: RingReader;
  private readonly sleeper: DoorbellSleeper;
  private readonly producer: DoorbellRinger | undefined;
  private readonly view: MessageView;
  private running = false;
  private stopped = false;

  constructor(mem: AppChannelMemory) {
    this.reader = new RingReader(mem.ring);
    this.sleeper = new DoorbellSleeper(mem.doorbell);
    this.producer = mem.producerDoorbell === undefined ? undefined : new DoorbellRinger(mem.producerDoorbell);
    this.view = new MessageView(this.reader.words);
  }

  /** Deliver every message to `fn` until stop(); waits asynchronously between batches. */
  start(fn: (msg: MessageView) => void): void {
    if (this.running) return;
    this.running = true;
    const loop = async (): Promise<void> => {
      while (!this.stopped) {
        this.drain(fn);
        if (this.stopped) break;
        // Park until the producer rings (it rings only when we said we sleep).
        await this.sleeper.parkAsync(1000, () => this.reader.peek() < 0 && !this.stopped);
      }
    };
    void loop();
  }

  drain(fn: (msg: MessageView) => void): number {
    let n = 0;
    for (let at = this.reader.peek(); at >= 0; at = this.reader.peek()) {
      fn(this.view.at(at));
      this.reader.advance();
      n++;
    }
    if (n > 0) {
      this.reader.release();
      if (this.reader.writerWaiting()) this.producer?.ring();
    }
    return n;
  }

  stop(): void {
    this.stopped = true;
    // Wake our own parked wait so the loop ends now.
    new DoorbellRinger(this.sleeperBuffer()).ringAlways();
  }

  private sleeperBuffer(): SharedArrayBuffer {
    return this.sleeper.words.buffer as SharedArrayBuffer;
  }
}
