/**
 * What every event-driven link shares (sockets served by Node's event loop: UDP
 * datagrams, VXLAN, QEMU streams): frames arrive in callbacks, wait in a bounded
 * queue, and `receive` copies them into the driver's slots. The copy is the
 * price of node:dgram and node:net handing us fresh Buffers; it is one copy,
 * into the pool, after which nothing is copied again.
 *
 * Transmit sides copy too, for the opposite reason: Node may hold on to a
 * buffer until a send completes, and the driver's slots are reused as soon as
 * `transmit` returns.
 */
import { NewtosError } from '../../errors.js';
import {
  ETH_HEADER_LEN, NicCounters, VLAN_TAG_LEN, wallClockMs,
  type FrameHook, type FrameSlots, type NicBackend,
} from './backend.js';

/** Default receive queue bound, in frames. */
export const DEFAULT_RX_QUEUE_FRAMES = 1024;

export abstract class QueuedLink implements NicBackend {
  abstract readonly kind: string;
  abstract readonly name: string;
  readonly counters = new NicCounters();
  protected hook: FrameHook | null = null;
  protected closed = false;
  private readonly queue: (Uint8Array | undefined)[];
  private head = 0;
  private size = 0;
  private listener: (() => void) | null = null;
  private sink: ((frame: Uint8Array) => boolean) | null = null;

  constructor(readonly mac: Uint8Array, readonly mtu: number, queueFrames = DEFAULT_RX_QUEUE_FRAMES) {
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
      throw new NewtosError('ERR_INVALID_ARG_VALUE', `The argument 'mtu' must be an integer in 68..65535, got ${mtu}`);
    }
    this.queue = new Array<Uint8Array | undefined>(queueFrames);
  }

  /** Largest frame this link carries: MTU + Ethernet header + one VLAN tag. */
  get maxFrameLen(): number {
    return this.mtu + ETH_HEADER_LEN + VLAN_TAG_LEN;
  }

  /** Frames waiting for `receive`. */
  get queued(): number {
    return this.size;
  }

  /**
   * Called by subclasses with one decapsulated frame (a view the link may keep:
   * a Buffer Node allocated for this datagram or stream chunk).
   */
  protected deliver(frame: Uint8Array): void {
    if (this.closed) return;
    if (frame.length < ETH_HEADER_LEN) { this.counters.drop('rx-runt'); return; }
    if (frame.length > this.maxFrameLen) { this.counters.drop('rx-oversize'); return; }
    if (this.sink !== null) {
      if (!this.sink(frame)) { this.counters.drop('rx-queue-full'); return; }
      this.counters.rxFrames++;
      this.counters.rxBytes += frame.length;
      return;
    }
    if (this.size === this.queue.length) { this.counters.drop('rx-queue-full'); return; }
    this.queue[(this.head + this.size) % this.queue.length] = frame;
    this.size++;
    if (this.size === 1 && this.listener !== null) this.listener();
  }

  receive(slots: FrameSlots, max: number): number {
    this.assertOpen();
    const limit = Math.min(max, slots.offsets.length, slots.lengths.length);
    let n = 0;
    const now = this.hook === null ? 0 : wallClockMs();
    while (n < limit && this.size > 0) {
      const frame = this.queue[this.head]!;
      this.queue[this.head] = undefined;
      this.head = (this.head + 1) % this.queue.length;
      this.size--;
      if (frame.length > slots.capacity) { this.counters.drop('rx-oversize'); continue; }
      const off = slots.offsets[n]!;
      slots.memory.set(frame, off);
      slots.lengths[n] = frame.length;
      if (slots.flags !== undefined) slots.flags[n] = 0;
      this.counters.rxFrames++;
      this.counters.rxBytes += frame.length;
      if (this.hook !== null) this.hook('rx', slots.memory.subarray(off, off + frame.length), now);
      n++;
    }
    return n;
  }

  transmit(slots: FrameSlots, count: number): number {
    this.assertOpen();
    const limit = Math.min(count, slots.offsets.length, slots.lengths.length);
    const now = this.hook === null ? 0 : wallClockMs();
    let i = 0;
    for (; i < limit; i++) {
      const off = slots.offsets[i]!;
      const len = slots.lengths[i]!;
      if (len < ETH_HEADER_LEN) { this.counters.drop('tx-runt'); continue; }
      if (len > this.maxFrameLen) { this.counters.drop('tx-oversize'); continue; }
      const frame = slots.memory.subarray(off, off + len);
      const verdict = this.send(frame);
      if (verdict === 'full') break;
      if (verdict === 'sent') {
        this.counters.txFrames++;
        this.counters.txBytes += len;
        if (this.hook !== null) this.hook('tx', frame, now);
      }
    }
    return i;
  }

  /**
   * Sends one frame (copying it: `frame` is a view into a slot). 'sent', or
   * 'dropped' after counting the reason, or 'full' to stop the batch here.
   */
  protected abstract send(frame: Uint8Array): 'sent' | 'dropped' | 'full';

  setReadableListener(listener: (() => void) | null): void {
    this.listener = listener;
  }

  /**
   * Hands every received frame to `sink` as it arrives instead of queueing it
   * for `receive` (the I/O bridge puts it straight into its shared pipe).
   * `sink` returns false when it has no room: the frame is dropped as
   * 'rx-queue-full'. The frame is a view valid only during the call.
   */
  setFrameSink(sink: ((frame: Uint8Array) => boolean) | null): void {
    this.sink = sink;
  }

  setFrameHook(hook: FrameHook | null): void {
    this.hook = hook;
  }

  abstract close(): Promise<void>;

  protected assertOpen(): void {
    if (this.closed) throw new NewtosError('ERR_NIC_CLOSED', `${this.kind} link ${this.name} is closed`);
  }
}
