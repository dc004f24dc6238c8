/**
 * Live capture of a running host's interface, switched on and off at run time
 * from another thread (`stack.capture`, `newtos capture`).
 *
 * The NIC driver owns the links and their frame hooks, in a thread whose
 * event loop does not run, so capture is steered through shared memory, one
 * channel per interface:
 *
 * - Switching: the capturing side writes SNAPLEN then REQUEST (a session id,
 *   0 = off) and rings the driver's doorbell. The driver compares REQUEST with
 *   what it applied on every poll (one Atomics.load per link); on a change it
 *   installs or removes the link's frame hook (`CaptureTap`) and acknowledges
 *   in ACTIVE. While capture is off the hot path is untouched: no hook, no
 *   message, nothing copied.
 * - Frames: the hook copies each frame (up to SNAPLEN bytes) as a record into
 *   an SPSC byte ring (src/sockbuf/byte-ring.ts) that the capturing thread
 *   drains (`LiveCapture`). A full ring drops the record and counts it in
 *   DROPPED: capture never slows the data path down.
 *
 * Shared memory of one channel:
 *   Int32 [0] REQUEST (capturer)  [1] ACTIVE (driver)  [2] SNAPLEN (capturer)
 *         [3] DROPPED (driver)    [4] CAPTURED (driver)
 *   ring at RING_AT: records
 *     +0 u32 captured length | +4 u32 frame length | +8 f64 wall-clock ms
 *     | +16 u32 direction (0 rx, 1 tx) | +20 captured bytes
 * One capturer at a time per channel (the ring has one consumer).
 */
import { NewtosError } from '../../errors.js';
import { BYTE_RING_LAYOUT, ByteRing } from '../../abi/byte-ring.js';
import type { FrameDirection, FrameHook, NicBackend } from './backend.js';

const W_REQUEST = 0;
const W_ACTIVE = 1;
const W_SNAPLEN = 2;
const W_DROPPED = 3;
const W_CAPTURED = 4;
const RING_AT = 64;
const REC_HEADER = 20;
/** Default ring size: a few thousand full frames between drains. */
export const CAPTURE_RING_BYTES = 4 << 20;

/** Shared memory for one interface's capture channel. */
export function createCaptureChannel(ringBytes = CAPTURE_RING_BYTES): SharedArrayBuffer {
  return new SharedArrayBuffer(RING_AT + ByteRing.bytesNeeded(ringBytes));
}

function ringOf(sab: SharedArrayBuffer): ByteRing {
  return new ByteRing(sab, RING_AT, sab.byteLength - RING_AT - BYTE_RING_LAYOUT.dataOffset);
}

/** The driver's side: follows REQUEST by installing or removing the link's frame hook. */
export class CaptureTap {
  private readonly words: Int32Array;
  private readonly ring: ByteRing;
  private readonly header = new Uint8Array(REC_HEADER);
  private readonly headerView = new DataView(this.header.buffer);
  private active = 0;
  private snaplen = 65535;
  private readonly hook: FrameHook;

  constructor(sab: SharedArrayBuffer, private readonly backend: NicBackend) {
    this.words = new Int32Array(sab, 0, 16);
    this.ring = ringOf(sab);
    // A fresh driver (also after a restart) has no hook installed yet.
    Atomics.store(this.words, W_ACTIVE, 0);
    this.hook = (direction, frame, timeMs) => this.record(direction, frame, timeMs);
  }

  /** Applies a changed request; costs one load when nothing changed. */
  sync(): void {
    const want = Atomics.load(this.words, W_REQUEST);
    if (want === this.active) return;
    if (want <= 0) { // 0 off, -1 off but still reserved by a capturer draining the rest
      this.backend.setFrameHook(null);
    } else {
      this.snaplen = Math.max(1, Atomics.load(this.words, W_SNAPLEN) || 65535);
      this.backend.setFrameHook(this.hook);
    }
    this.active = want;
    Atomics.store(this.words, W_ACTIVE, want);
  }

  private record(direction: FrameDirection, frame: Uint8Array, timeMs: number): void {
    const incl = Math.min(frame.length, this.snaplen);
    if (this.ring.freeSpace() < REC_HEADER + incl) {
      Atomics.add(this.words, W_DROPPED, 1);
      return;
    }
    const v = this.headerView;
    v.setUint32(0, incl, true);
    v.setUint32(4, frame.length, true);
    v.setFloat64(8, timeMs, true);
    v.setUint32(16, direction === 'rx' ? 0 : 1, true);
    this.ring.writeAt(0, this.header);
    this.ring.writeAt(REC_HEADER, incl === frame.length ? frame : frame.subarray(0, incl));
    this.ring.advanceTail(REC_HEADER + incl);
    Atomics.add(this.words, W_CAPTURED, 1);
  }
}

/** Receives each captured frame: a copy the callee may keep. */
export type CapturedFrameSink = (direction: FrameDirection, frame: Uint8Array, frameLength: number, timeMs: number) => void;

export interface LiveCaptureOptions {
  /** Bytes kept per frame (default 65535). */
  readonly snaplen?: number;
  /** How often the ring is drained, ms (default 10). */
  readonly drainEveryMs?: number;
  /** Longest wait for the driver to acknowledge a switch, ms (default 3000). */
  readonly timeoutMs?: number;
}

/**
 * The capturing side (an event-loop thread): switches one channel on, drains
 * its records into `sink`, switches it off. Create with `LiveCapture.start`.
 */
export class LiveCapture {
  /** Frames handed to the sink. */
  frames = 0;
  private readonly words: Int32Array;
  private readonly ring: ByteRing;
  private readonly header = new Uint8Array(REC_HEADER);
  private readonly headerView = new DataView(this.header.buffer);
  private readonly droppedAtStart: number;
  private timer: ReturnType<typeof setInterval> | null = null;
  private stopped = false;

  private constructor(
    sab: SharedArrayBuffer,
    private readonly session: number,
    private readonly wake: () => void,
    private readonly sink: CapturedFrameSink,
    private readonly timeoutMs: number,
  ) {
    this.words = new Int32Array(sab, 0, 16);
    this.ring = ringOf(sab);
    this.droppedAtStart = Atomics.load(this.words, W_DROPPED);
  }

  /**
   * Switches capture on and resolves once the driver has installed its hook
   * (every frame after that is captured). `wake` rings the driver's doorbell.
   * Rejects with EBUSY if another capture of this channel is running.
   */
  static async start(sab: SharedArrayBuffer, wake: () => void, sink: CapturedFrameSink, options: LiveCaptureOptions = {}): Promise<LiveCapture> {
    const words = new Int32Array(sab, 0, 16);
    // Any id other than what the driver applied last (ACTIVE) is a change it will see.
    const session = (Atomics.load(words, W_ACTIVE) & 0x3fffffff) + 1;
    if (Atomics.compareExchange(words, W_REQUEST, 0, -1) !== 0) {
      throw new NewtosError('EBUSY', 'a capture of this interface is already running');
    }
    // Leftovers of an earlier session (its driver hook is gone: ACTIVE was 0).
    const ring = ringOf(sab);
    ring.consume(ring.available());
    Atomics.store(words, W_SNAPLEN, options.snaplen ?? 65535);
    Atomics.store(words, W_REQUEST, session);
    const capture = new LiveCapture(sab, session, wake, sink, options.timeoutMs ?? 3000);
    try {
      await capture.waitFor((active) => active === session);
    } catch (e) {
      Atomics.store(words, W_REQUEST, 0);
      wake();
      throw e;
    }
    capture.timer = setInterval(() => capture.drain(), options.drainEveryMs ?? 10);
    return capture;
  }

  /** Records the driver could not fit in the ring since this capture started. */
  get dropped(): number {
    return Atomics.load(this.words, W_DROPPED) - this.droppedAtStart;
  }

  /** Hands every waiting record to the sink; returns how many. */
  drain(): number {
    let n = 0;
    const ring = this.ring;
    while (ring.available() >= REC_HEADER) {
      ring.copyOut(0, this.header);
      const v = this.headerView;
      const incl = v.getUint32(0, true);
      const length = v.getUint32(4, true);
      const timeMs = v.getFloat64(8, true);
      const direction: FrameDirection = v.getUint32(16, true) === 0 ? 'rx' : 'tx';
      const frame = new Uint8Array(incl);
      ring.copyOut(REC_HEADER, frame);
      ring.consume(REC_HEADER + incl);
      n++;
      this.frames++;
      this.sink(direction, frame, length, timeMs);
    }
    return n;
  }

  /** Switches capture off, waits for the driver to remove its hook, drains the rest. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    Atomics.store(this.words, W_REQUEST, -1); // still ours until drained
    try {
      await this.waitFor((active) => active !== this.session);
    } finally {
      this.drain();
      Atomics.store(this.words, W_REQUEST, 0);
      this.wake();
    }
  }

  /** Rings the driver until ACTIVE satisfies `done` (draining meanwhile, so its hook never stalls). */
  private async waitFor(done: (active: number) => boolean): Promise<void> {
    const deadline = performance.now() + this.timeoutMs;
    for (;;) {
      this.wake();
      if (done(Atomics.load(this.words, W_ACTIVE))) return;
      if (performance.now() > deadline) {
        throw new NewtosError('ETIMEDOUT', 'the NIC driver did not switch capture in time');
      }
      await new Promise((r) => setTimeout(r, 2));
      this.drain();
    }
  }
}
