/**
 * The program's own link (`link: { type: 'frames' }`): a Duplex stream whose chunks are
 * whole Ethernet frames (no FCS). What the stack sends on the interface is read from it;
 * what the program writes to it the stack receives. `a.pipe(b).pipe(a)` joins two hosts;
 * a WebSocket tunnel, an emulator's NIC or a userspace VPN is one `pipe` away.
 *
 * Frames cross to the driver thread through shared memory, not a message per frame: the
 * link is a private two-port virtual switch (src/driver/nic/vswitch.ts) whose port 0 the
 * driver holds and port 1 this thread. A batch of writes is one copy each into the SPSC
 * ring towards the driver and one doorbell ring; frames from the driver are copied out of
 * the other ring when this thread's doorbell (Atomics.waitAsync) says they are there.
 *
 * Back-pressure, both ways as Node streams do it:
 * - write() returns false once `writableHighWaterMark` frames wait; they wait while the ring
 *   towards the driver is full (the driver has not taken them yet), retried every
 *   millisecond (the driver does not ring us when it frees room), then 'drain'.
 * - Frames are read only while the reader wants them (push() returning false stops the
 *   reading); meanwhile the ring from the driver fills and the driver keeps the rest queued
 *   and retries (its own back-pressure towards TCP), as a NIC whose peer pauses.
 *
 * Bad input is refused synchronously, as net.Socket#write does: a chunk that is not a
 * Buffer/Uint8Array throws ERR_INVALID_ARG_TYPE (TypeError); a frame shorter than an
 * Ethernet header or longer than the link's MTU + 18 (header and a VLAN tag) throws
 * ERR_OUT_OF_RANGE (RangeError).
 */
import { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { NewtosError } from '../errors.js';
import { ETH_HEADER_LEN, VLAN_TAG_LEN, contiguousSlots, randomLocalMac, type FrameSlots } from '../driver/nic/backend.js';
import { VswitchPort, type VswitchDescriptor } from '../driver/nic/vswitch.js';

/** Frames taken from the ring per receive batch. */
const RX_BATCH = 64;
/** While the ring towards the driver is full, how often a write is retried. */
const TX_RETRY_MS = 1;

export interface FrameLinkOptions {
  /** Frames write() buffers before it returns false (default 64). */
  readonly writableHighWaterMark?: number;
  /** Frames read ahead of the reader (default 64). */
  readonly readableHighWaterMark?: number;
}

function nodeError(code: string, message: string, Base: ErrorConstructor): Error {
  const e = new Base(message) as Error & { code: string };
  e.code = code;
  return e;
}

export class FrameLink extends Duplex {
  /** The interface this link carries. */
  readonly interfaceName: string;
  /** Largest frame accepted: MTU + Ethernet header + one VLAN tag. */
  readonly maxFrameBytes: number;
  private readonly port: VswitchPort;
  private readonly rx: FrameSlots;
  private readonly tx: FrameSlots;
  private retryTimer: NodeJS.Timeout | null = null;
  private listening = false;

  /** @internal — made by createStack for each 'frames' interface. */
  constructor(interfaceName: string, descriptor: VswitchDescriptor, options: FrameLinkOptions = {}) {
    super({
      readableObjectMode: true, writableObjectMode: true,
      readableHighWaterMark: options.readableHighWaterMark ?? 64,
      writableHighWaterMark: options.writableHighWaterMark ?? 64,
      allowHalfOpen: true,
    });
    this.interfaceName = interfaceName;
    // Port 1's MAC only seeds its learning row; the frames written carry their own source MACs.
    this.port = new VswitchPort(descriptor, 1, { mac: randomLocalMac((n) => randomBytes(n)) });
    this.maxFrameBytes = descriptor.mtu + ETH_HEADER_LEN + VLAN_TAG_LEN;
    const stride = (this.maxFrameBytes + 7) & ~7;
    this.rx = contiguousSlots(new Uint8Array(RX_BATCH * stride), RX_BATCH, stride);
    this.tx = contiguousSlots(new Uint8Array(RX_BATCH * stride), RX_BATCH, stride);
  }

  /** Counters of the program's side: frames and bytes it read (rx) and wrote (tx). */
  stats(): { rxFrames: number; rxBytes: number; txFrames: number; txBytes: number } {
    const c = this.port.counters;
    return { rxFrames: c.rxFrames, rxBytes: c.rxBytes, txFrames: c.txFrames, txBytes: c.txBytes };
  }

  override write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    if (!(chunk instanceof Uint8Array)) {
      throw nodeError('ERR_INVALID_ARG_TYPE', `The "frame" argument must be an instance of Buffer or Uint8Array. Received ${chunk === null ? 'null' : typeof chunk}`, TypeError);
    }
    if (chunk.length < ETH_HEADER_LEN || chunk.length > this.maxFrameBytes) {
      throw nodeError('ERR_OUT_OF_RANGE', `The value of "frame.length" is out of range. It must be >= ${ETH_HEADER_LEN} && <= ${this.maxFrameBytes} (an Ethernet frame on ${this.interfaceName}, MTU ${this.maxFrameBytes - ETH_HEADER_LEN - VLAN_TAG_LEN}). Received ${chunk.length}`, RangeError);
    }
    return super.write(chunk, encoding as BufferEncoding, cb as (e?: Error | null) => void);
  }

  override _writev(chunks: { chunk: Uint8Array }[], callback: (error?: Error | null) => void): void {
    this.sendAll(chunks.map((c) => c.chunk), 0, callback);
  }

  override _write(chunk: Uint8Array, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.sendAll([chunk], 0, callback);
  }

  /** Copies frames[from..] into the ring towards the driver, a batch at a time; waits while it is full. */
  private sendAll(frames: readonly Uint8Array[], from: number, callback: (error?: Error | null) => void): void {
    this.retryTimer = null;
    if (this.destroyed) { callback(new NewtosError('ERR_STREAM_DESTROYED', 'frame link destroyed')); return; }
    let next = from;
    while (next < frames.length) {
      const count = Math.min(RX_BATCH, frames.length - next);
      for (let i = 0; i < count; i++) {
        const f = frames[next + i]!;
        this.tx.memory.set(f, this.tx.offsets[i]!);
        this.tx.lengths[i] = f.length;
      }
      const sent = this.port.transmit(this.tx, count);
      next += sent;
      if (sent < count) {
        this.retryTimer = setTimeout(() => this.sendAll(frames, next, callback), TX_RETRY_MS);
        return;
      }
    }
    callback();
  }

  override _read(): void {
    // A full reader stops the ring's listener too: left on, its next call would take
    // another batch into a reader that is already full.
    if (!this.pull()) {
      this.stopListening();
    } else if (!this.listening) {
      this.listening = true;
      this.port.setReadableListener(() => { if (!this.pull()) this.stopListening(); });
    }
  }

  private stopListening(): void {
    if (!this.listening) return;
    this.listening = false;
    this.port.setReadableListener(null);
  }

  /** Pushes waiting frames; false once the reader wants no more for now. */
  private pull(): boolean {
    for (;;) {
      if (this.destroyed) return false;
      const n = this.port.receive(this.rx, RX_BATCH);
      let wanted = true;
      for (let i = 0; i < n; i++) {
        const off = this.rx.offsets[i]!;
        // A copy: the slot is reused by the next batch (receive may have shifted its offset, reset below).
        wanted = this.push(Buffer.from(this.rx.memory.subarray(off, off + this.rx.lengths[i]!)));
      }
      const stride = this.rx.capacity;
      for (let i = 0; i < RX_BATCH; i++) this.rx.offsets[i] = i * stride;
      if (n === 0) return true;
      // Frames taken from the ring are delivered even when the reader is full (a Readable buffers them).
      if (!wanted) return false;
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.stopListening();
    this.port.close().then(() => callback(error), (e: unknown) => callback(e as Error));
  }

  override _final(callback: (error?: Error | null) => void): void {
    callback();
  }
}
