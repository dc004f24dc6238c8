/**
 * Connection checkpoints: per socket slot, a fixed region of shared memory in
 * the socket table where the transport server keeps a copy of the connection's
 * control block (src/tcp/checkpoint.ts writes and reads it), so that a
 * successor started after a crash or hang can resume the connection on the
 * same slot. The rings themselves are already shared (socket-block.ts): the
 * send ring keeps every byte until it is acknowledged, the receive ring holds
 * what was received and not yet read.
 *
 * Layout of one slot's region (CHECKPOINT_SLOT_BYTES, a multiple of 64):
 *
 *   line 0   Int32 words, stored only by the transport server
 *     W_COMMITTED  which copy is valid: 0 none, 1 copy A, 2 copy B
 *     W_IN_HAND    1 while the server is processing this slot's connection
 *                  (set on entry, cleared at the end of the batch): after a crash
 *                  the successor knows which connection was in hand
 *     W_STRIKES    consecutive crashes with this connection in hand
 *     W_WRITES     checkpoints written (statistics and tests)
 *   copy A   CK_FIELDS Float64 fields (CK below), then CK_MAX_RANGES pairs of
 *            Uint32 (out-of-order ranges beyond RCV.NXT: offset, length), then
 *            CK_MAX_SACKED pairs of Uint32 (the sender's SACK scoreboard: ranges
 *            above SND.UNA the peer SACKed, start sequence number and length)
 *   copy B   the same
 *
 * Two copies, written alternately, and W_COMMITTED switched only after the new
 * copy is complete: a server that dies while writing one leaves the other
 * whole. Nothing here needs Atomics between writer and reader: the reader is
 * the writer's successor, which starts after the writer's thread is gone; the
 * switch word is stored with Atomics all the same.
 */

/** Fields of a copy (Float64 indexes). Sequence numbers are u32; times are the writer's ms clock. */
export const CK = {
  state: 0,
  localAddr: 1,
  localPort: 2,
  remoteAddr: 3,
  remotePort: 4,
  listenerId: 5,
  /** CK_FLAG bits. */
  flags: 6,
  iss: 7,
  irs: 8,
  sndUna: 9,
  sndNxt: 10,
  sndMax: 11,
  sndWnd: 12,
  sndWl1: 13,
  sndWl2: 14,
  maxSndWnd: 15,
  /** Sequence number of the send ring's head byte, and the ring's head counter then. */
  sndBufSeq: 16,
  sendHead: 17,
  finSeq: 18,
  sndMss: 19,
  advMss: 20,
  rcvNxt: 21,
  rcvAdv: 22,
  rcvFinSeq: 23,
  lastAckSent: 24,
  /** The receive ring's tail counter when RCV.NXT was rcvNxt. */
  recvTail: 25,
  sndWndScale: 26,
  rcvWndScale: 27,
  tsRecent: 28,
  tsRecentAge: 29,
  /** Our TSval at the checkpoint (the successor's timestamps continue from it). */
  tsNow: 30,
  srtt: 31,
  rttvar: 32,
  rto: 33,
  cwnd: 34,
  ssthresh: 35,
  rtoAt: 36,
  delackAt: 37,
  keepaliveAt: 38,
  closeAt: 39,
  keepAliveIdle: 40,
  userTimeout: 41,
  lastProgress: 42,
  lastRecv: 43,
  retries: 44,
  persistBackoff: 45,
  /** The writer's clock (ms) at the checkpoint. */
  now: 46,
  /** A process-wide monotonic clock (ms) at the checkpoint: a successor's clock has another origin. */
  mono: 47,
  /** Number of out-of-order ranges stored. */
  rangeCount: 48,
  /** The transport server's own per-slot state (CK_SERVER bits, app flags it acted on << 8). */
  server: 49,
  /** Number of SACKed ranges stored (the sender's scoreboard, lowest first). */
  sackedCount: 50,
} as const;

export const CK_FIELDS = 56;
/** Out-of-order ranges kept per checkpoint; a receiver with more loses the rest (the peer resends them). */
export const CK_MAX_RANGES = 32;
/**
 * SACKed ranges kept per checkpoint, the lowest (nearest SND.UNA, where a successor resends
 * first); a scoreboard with more loses the highest, which the peer's next ACKs SACK again.
 */
export const CK_MAX_SACKED = 16;

/** CK.flags bits. */
export const CK_FLAG = {
  accepted: 1,
  released: 2,
  finQueued: 4,
  rcvFinKnown: 8,
  offeredWscale: 16,
  tsEnabled: 32,
  sackEnabled: 64,
  endReported: 128,
  persisting: 256,
  noDelay: 512,
  inSynQueue: 1024,
} as const;

/** CK.server bits (the rest of the word: app flags seen, shifted by 8). */
export const CK_SERVER = {
  handedOut: 1,
  appClosed: 2,
} as const;

export const W_COMMITTED = 0;
export const W_IN_HAND = 1;
export const W_STRIKES = 2;
export const W_WRITES = 3;

const LINE = 64;
const COPY_BYTES = CK_FIELDS * 8 + CK_MAX_RANGES * 2 * 4 + CK_MAX_SACKED * 2 * 4;
export const CHECKPOINT_SLOT_BYTES = LINE + 2 * COPY_BYTES;
if (CHECKPOINT_SLOT_BYTES % LINE !== 0) throw new Error('checkpoint slot size must be a multiple of 64');

/** The checkpoint regions of every slot of a socket table. */
export class CheckpointArea {
  private readonly i32: Int32Array;
  /** Float64 view of the whole area (fields of slot s, copy c at fieldBase(s, c)). */
  readonly f64: Float64Array;
  /** Uint32 view of the whole area (ranges of slot s, copy c at rangeBase(s, c)). */
  readonly u32: Uint32Array;

  static bytesNeeded(slots: number): number {
    return slots * CHECKPOINT_SLOT_BYTES;
  }

  constructor(buffer: SharedArrayBuffer | ArrayBuffer, readonly byteOffset: number, readonly slots: number) {
    const n = CheckpointArea.bytesNeeded(slots);
    this.i32 = new Int32Array(buffer, byteOffset, n / 4);
    this.u32 = new Uint32Array(buffer, byteOffset, n / 4);
    this.f64 = new Float64Array(buffer, byteOffset, n / 8);
  }

  private word(slot: number, w: number): number {
    return (slot * CHECKPOINT_SLOT_BYTES) / 4 + w;
  }

  /** Float64 index of field 0 of `copy` (0 = A, 1 = B) of `slot`. */
  fieldBase(slot: number, copy: number): number {
    return (slot * CHECKPOINT_SLOT_BYTES + LINE + copy * COPY_BYTES) / 8;
  }

  /** Uint32 index of the first range word of `copy` of `slot`. */
  rangeBase(slot: number, copy: number): number {
    return (slot * CHECKPOINT_SLOT_BYTES + LINE + copy * COPY_BYTES + CK_FIELDS * 8) / 4;
  }

  /** Uint32 index of the first SACKed-range word of `copy` of `slot` (after its out-of-order ranges). */
  sackedBase(slot: number, copy: number): number {
    return this.rangeBase(slot, copy) + CK_MAX_RANGES * 2;
  }

  /** The copy (0 or 1) a new checkpoint of `slot` goes to: the one not committed. */
  writeCopy(slot: number): number {
    return Atomics.load(this.i32, this.word(slot, W_COMMITTED)) === 1 ? 1 : 0;
  }

  /** The copy just written becomes the valid one. */
  commit(slot: number, copy: number): void {
    Atomics.store(this.i32, this.word(slot, W_COMMITTED), copy + 1);
    this.i32[this.word(slot, W_WRITES)]! += 1;
  }

  /** The valid copy of `slot` (0 or 1), or -1 when it has no checkpoint. */
  committedCopy(slot: number): number {
    const c = Atomics.load(this.i32, this.word(slot, W_COMMITTED));
    return c === 1 || c === 2 ? c - 1 : -1;
  }

  /** No checkpoint for `slot` (the connection is gone, or the slot is handed out anew). */
  clear(slot: number): void {
    Atomics.store(this.i32, this.word(slot, W_COMMITTED), 0);
    this.i32[this.word(slot, W_IN_HAND)] = 0;
  }

  /** Mark (or unmark) `slot`'s connection as being processed now. */
  setInHand(slot: number, on: boolean): void {
    this.i32[this.word(slot, W_IN_HAND)] = on ? 1 : 0;
  }

  inHand(slot: number): boolean {
    return this.i32[this.word(slot, W_IN_HAND)] !== 0;
  }

  strikes(slot: number): number {
    return this.i32[this.word(slot, W_STRIKES)]!;
  }

  setStrikes(slot: number, n: number): void {
    this.i32[this.word(slot, W_STRIKES)] = n;
  }

  /** Checkpoints written for `slot` since the table was created. */
  writes(slot: number): number {
    return this.i32[this.word(slot, W_WRITES)]!;
  }
}
