/**
 * A one-way pipe of whole Ethernet frames in shared memory between exactly two
 * threads: one producer, one consumer (SPSC). It is a byte ring
 * (src/sockbuf/byte-ring.ts) holding records
 *
 *   +0 u32 frame length (little-endian) | +4 frame bytes
 *
 * so small frames take little room and a full pipe pushes back on its producer
 * (`put` returns false). The producer writes a record's header and bytes past
 * the tail, then publishes both with one tail store (ByteRing.advanceTail): the
 * consumer never sees half a record. Only the consumer moves the head.
 *
 * Used by the I/O bridge (io-bridge.ts): one pipe per direction between a NIC
 * driver and the bridge thread whose event loop owns a link's socket.
 */
import { ByteRing } from '../../abi/byte-ring.js';

/** Bytes in front of every frame in the pipe. */
export const FRAME_RECORD_HEADER = 4;

export class FramePipe {
  private readonly ring: ByteRing;
  private readonly header = new Uint8Array(FRAME_RECORD_HEADER);
  private readonly headerView = new DataView(this.header.buffer);

  /** Bytes of memory a pipe of `capacity` bytes occupies (header words included). */
  static bytesNeeded(capacity: number): number {
    return ByteRing.bytesNeeded(capacity);
  }

  /** Attaches to the pipe at `byteOffset` (zeroed memory is an empty pipe). */
  constructor(buffer: SharedArrayBuffer, byteOffset: number, readonly capacity: number) {
    this.ring = new ByteRing(buffer, byteOffset, capacity);
  }

  // ---- producer -------------------------------------------------------

  /** Whether a frame of `len` bytes fits now. */
  fits(len: number): boolean {
    return this.ring.freeSpace() >= FRAME_RECORD_HEADER + len;
  }

  /** Appends one frame and publishes it; false (nothing written) when it does not fit. */
  put(frame: Uint8Array): boolean {
    const need = FRAME_RECORD_HEADER + frame.length;
    if (this.ring.freeSpace() < need) return false;
    this.headerView.setUint32(0, frame.length, true);
    this.ring.writeAt(0, this.header);
    this.ring.writeAt(FRAME_RECORD_HEADER, frame);
    this.ring.advanceTail(need);
    return true;
  }

  // ---- consumer -------------------------------------------------------

  /** Length of the oldest frame, or -1 when the pipe is empty. */
  peekLength(): number {
    if (this.ring.available() < FRAME_RECORD_HEADER) return -1;
    this.ring.copyOut(0, this.header);
    return this.headerView.getUint32(0, true);
  }

  /** Whether no frame is waiting. */
  isEmpty(): boolean {
    return this.ring.available() < FRAME_RECORD_HEADER;
  }

  /**
   * Copies the oldest frame (of length `len`, from peekLength) to dst[at..]
   * without consuming it.
   */
  copyFrame(len: number, dst: Uint8Array, at: number): void {
    this.ring.copyOut(FRAME_RECORD_HEADER, dst, at, len);
  }

  /** Consumes the oldest frame (of length `len`, from peekLength). */
  skip(len: number): void {
    this.ring.consume(FRAME_RECORD_HEADER + len);
  }
}
