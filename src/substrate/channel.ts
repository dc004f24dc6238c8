/**
 * Channel endpoints as a server sees them, over either transport:
 *
 * - 'ring': an SPSC ring in a SharedArrayBuffer (ring.ts) plus the peer
 *   thread's doorbell. The fast path.
 * - 'port': a MessagePort, one postMessage per message, received with
 *   `receiveMessageOnPort` so a blocking loop can poll it, and the peer's
 *   doorbell rung after each send. The stand-in for the slow kernel IPC the
 *   thesis measured against. In-flight messages die with a crashed thread.
 *
 * The server loop (server-loop.ts) owns the batching: a server reserves and
 * commits messages on an OutChannel; the loop publishes every output once per
 * iteration, rings the consumers' doorbells, and only then frees the input
 * slots it read (the order the restart protocol relies on).
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { RingReader, RingWriter } from './ring.js';
import { MessageView, MSG_WORDS, NO_POOL } from './message.js';
import { DoorbellRinger } from './doorbell.js';
import { invalidArg } from '../errors.js';

/** Where a server's messages go. */
export interface OutChannel {
  /** Local endpoint name (manifest "server.endpoint"). */
  readonly name: string;
  /** Name of the server at the other end. */
  readonly peer: string;
  /**
   * The next free slot as a view with the sender's generation filled in, or
   * null when the channel is full (back-pressure: keep the work and retry
   * later). Fill it, then `commit()`.
   */
  reserve(): MessageView | null;
  /**
   * Rings only: visits every message committed and not yet freed by the consumer. After
   * the consumer's restart these are the ones its successor reads anyway (same ring).
   */
  forEachQueued?(fn: (m: MessageView) => void): void;
  /** Makes the reserved message part of the next publish. */
  commit(): void;
  /**
   * Slots that reserve() can fill right now without failing (Infinity for a
   * MessagePort). A producer that can hold work back (a NIC leaving frames in
   * its device) takes only this many, so nothing it took has to be dropped.
   */
  freeSlots(): number;
  /** Messages committed and not yet published. */
  readonly pending: number;
}

/** Where a server's messages come from. */
export interface InChannel {
  readonly name: string;
  readonly peer: string;
  /** Rings only: visits every message published and not yet read (after a peer's restart: what is already here). */
  forEachQueued?(fn: (m: MessageView) => void): void;
}

/** Loop-side operations on an output. */
export interface OutEndpoint extends OutChannel {
  /**
   * reserve + header + args + commit in one call; false when full. A message without a
   * buffer (the pointer is cleared: no stale pointer from a reused slot). The words go by
   * position: the substrate's own examples and tests use it; servers see only OutChannel
   * and write through the named writers of src/abi/message-args.ts.
   */
  send(type: number, seq: number, a0?: number, a1?: number, a2?: number, a3?: number, a4?: number, a5?: number): boolean;
  /** Publishes committed messages and rings the consumer; returns how many. */
  flush(): number;
  /** True when a reserve() failed for lack of space and space has appeared since. */
  spaceAvailable(): boolean;
  /** Rings: re-reads the shared indices (a standby built ahead of its predecessor's death). */
  resync?(): void;
}

/** Loop-side operations on an input. */
export interface InEndpoint extends InChannel {
  /** View on the next message, or null when empty. */
  peek(): MessageView | null;
  /** Done with the message peek() returned. */
  advance(): void;
  /** Frees everything advanced over; rings the producer if it waits for space. */
  release(): number;
  /** True when a message is waiting (used right before parking). */
  hasMessage(): boolean;
  /** Rings: re-reads the shared indices (a standby built ahead of its predecessor's death). */
  resync?(): void;
}

export class RingOut implements OutEndpoint {
  private readonly writer: RingWriter;
  private readonly view: MessageView;
  private readonly bell: DoorbellRinger;
  private gen = 0;
  private waiting = false;

  constructor(readonly name: string, readonly peer: string, sab: SharedArrayBuffer, consumerBell: SharedArrayBuffer) {
    this.writer = new RingWriter(sab);
    if (this.writer.slotWords < MSG_WORDS) throw invalidArg('sab', `ring slots of ${this.writer.slotWords} words cannot hold a message`);
    this.view = new MessageView(this.writer.words);
    this.bell = new DoorbellRinger(consumerBell);
  }

  setGeneration(gen: number): void { this.gen = gen; }

  reserve(): MessageView | null {
    let at = this.writer.reserve();
    if (at < 0) {
      // Full: ask the consumer to ring us when it frees space, then look
      // again (the consumer may have freed space before it saw the flag).
      if (!this.waiting) { this.writer.setWaiting(true); this.waiting = true; }
      at = this.writer.reserve();
      if (at < 0) return null;
    }
    if (this.waiting) { this.writer.setWaiting(false); this.waiting = false; }
    return this.view.at(at).setGen(this.gen);
  }

  spaceAvailable(): boolean { return this.waiting && this.writer.free() > 0; }

  resync(): void { this.writer.resync(); this.waiting = false; }

  forEachQueued(fn: (m: MessageView) => void): void {
    const view = new MessageView(this.writer.words);
    this.writer.forEachUnconsumed((at) => fn(view.at(at)));
  }

  freeSlots(): number { return this.writer.free(); }

  commit(): void { this.writer.commit(); }

  send(type: number, seq: number, a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0): boolean {
    const v = this.reserve();
    if (v === null) return false;
    v.set(type, this.gen, seq).setPointer(NO_POOL, 0, 0, 0)
      .setArg(0, a0).setArg(1, a1).setArg(2, a2).setArg(3, a3).setArg(4, a4).setArg(5, a5);
    this.writer.commit();
    return true;
  }

  get pending(): number { return this.writer.pending; }

  flush(): number {
    const n = this.writer.publish();
    if (n > 0) this.bell.ring();
    return n;
  }

}

export class RingIn implements InEndpoint {
  private readonly reader: RingReader;
  private readonly view: MessageView;
  private readonly producerBell: DoorbellRinger;

  constructor(readonly name: string, readonly peer: string, sab: SharedArrayBuffer, producerBell: SharedArrayBuffer) {
    this.reader = new RingReader(sab);
    this.view = new MessageView(this.reader.words);
    this.producerBell = new DoorbellRinger(producerBell);
  }

  peek(): MessageView | null {
    const at = this.reader.peek();
    return at < 0 ? null : this.view.at(at);
  }

  advance(): void { this.reader.advance(); }

  release(): number {
    const n = this.reader.release();
    if (n > 0 && this.reader.writerWaiting()) this.producerBell.ring();
    return n;
  }

  hasMessage(): boolean { return this.reader.available() > 0; }

  resync(): void { this.reader.resync(); }

  forEachQueued(fn: (m: MessageView) => void): void {
    const view = new MessageView(this.reader.words);
    this.reader.forEachUnread((at) => fn(view.at(at)));
  }
}

/** Messages go out one postMessage each (a copy), like a kernel IPC call. */
export class PortOut implements OutEndpoint {
  private readonly staging = new Int32Array(MSG_WORDS);
  private readonly view = new MessageView(this.staging);
  private readonly queue: Int32Array[] = [];
  private readonly bell: DoorbellRinger;
  private gen = 0;

  constructor(readonly name: string, readonly peer: string, private port: MessagePort, consumerBell: SharedArrayBuffer) {
    this.bell = new DoorbellRinger(consumerBell);
  }

  setGeneration(gen: number): void { this.gen = gen; }
  /** The supervisor re-attached this channel after the peer restarted. */
  replacePort(port: MessagePort): void { this.port = port; }

  reserve(): MessageView | null { return this.view.setGen(this.gen); }
  commit(): void { this.queue.push(this.staging.slice()); }

  send(type: number, seq: number, a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0): boolean {
    this.view.set(type, this.gen, seq).setPointer(NO_POOL, 0, 0, 0)
      .setArg(0, a0).setArg(1, a1).setArg(2, a2).setArg(3, a3).setArg(4, a4).setArg(5, a5);
    this.commit();
    return true;
  }

  get pending(): number { return this.queue.length; }

  flush(): number {
    const n = this.queue.length;
    for (let i = 0; i < n; i++) this.port.postMessage(this.queue[i]);
    this.queue.length = 0;
    if (n > 0) this.bell.ring();
    return n;
  }

  spaceAvailable(): boolean { return false; /* a port never fills */ }

  freeSlots(): number { return Infinity; }
}

export class PortIn implements InEndpoint {
  private current: Int32Array | null = null;
  private readonly view = new MessageView(new Int32Array(MSG_WORDS));

  constructor(readonly name: string, readonly peer: string, private port: MessagePort) {}

  replacePort(port: MessagePort): void { this.port = port; this.current = null; }

  peek(): MessageView | null {
    if (this.current === null) {
      const m = receiveMessageOnPort(this.port);
      if (m === undefined) return null;
      this.current = m.message as Int32Array;
      this.view.words = this.current;
    }
    return this.view.at(0);
  }

  advance(): void { this.current = null; }
  release(): number { return 0; }

  hasMessage(): boolean { return this.peek() !== null; }
}
