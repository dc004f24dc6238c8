/**
 * Every SharedArrayBuffer layout of the substrate, in one place.
 *
 * All offsets are in 32-bit words (indices into an Int32Array over the SAB)
 * unless the name ends in `_BYTES`. Words that two threads write are kept at
 * least 64 bytes (one cache line, 16 words) apart so the producer's and the
 * consumer's stores do not bounce the same line between cores.
 *
 * Who writes what is documented beside each word; every word has exactly one
 * writer at any time (the "single writer" rule the whole substrate relies on).
 */

/** Words per cache line (64 bytes). */
export const LINE_WORDS = 16;

// ---------------------------------------------------------------------------
// Ring (ring.ts): header, then `capacity` slots of `slotWords` words each.
// ---------------------------------------------------------------------------

/** Consumer's free-running read index (u32 wrap). Written only by the consumer. */
export const RING_HEAD = 0;
/** Producer's free-running write index (u32 wrap). Written only by the producer. */
export const RING_TAIL = LINE_WORDS;
/** 1 while the producer found the ring full and wants a doorbell when space frees. Producer-written. */
export const RING_WRITER_WAITING = 2 * LINE_WORDS;
/** Capacity (slots, a power of two). Written once at creation. */
export const RING_CAPACITY = 2 * LINE_WORDS + 4;
/** Words per slot. Written once at creation. */
export const RING_SLOT_WORDS = 2 * LINE_WORDS + 5;
/** Magic to catch a SAB that is not a ring. Written once at creation. */
export const RING_MAGIC_WORD = 2 * LINE_WORDS + 6;
export const RING_MAGIC = 0x52494e47; // 'RING'
/** First slot word. */
export const RING_HEADER_WORDS = 3 * LINE_WORDS;

// ---------------------------------------------------------------------------
// Message slot (message.ts): 12 words = 48 bytes.
// ---------------------------------------------------------------------------

/** Low 16 bits: message type (message-types.ts); high 16 bits: flags. */
export const MSG_TYPE = 0;
/** Sender's generation (bumped by the supervisor on every restart). */
export const MSG_GEN = 1;
/** Sender's sequence number (u32, only grows within a sender's stream). */
export const MSG_SEQ = 2;
/** Rich pointer: low 16 bits pool id (0xffff = no buffer), high 16 bits pool generation. */
export const MSG_POOL = 3;
/** Rich pointer: byte offset of the data inside the pool's SAB. */
export const MSG_OFFSET = 4;
/** Rich pointer: data length in bytes. */
export const MSG_LENGTH = 5;
/** First of the argument words (u32 / i32, meaning per type). */
export const MSG_ARG0 = 6;
/** Number of argument words. */
export const MSG_ARGS = 6;
/** Words per message slot. */
export const MSG_WORDS = MSG_ARG0 + MSG_ARGS;
export const MSG_BYTES = MSG_WORDS * 4;
/** Pool id meaning "this message carries no buffer". */
export const NO_POOL = 0xffff;

// ---------------------------------------------------------------------------
// Doorbell (doorbell.ts): one per thread that runs a server loop.
// ---------------------------------------------------------------------------

/** Counter bumped by every waker before Atomics.notify. Written by any producer (Atomics.add). */
export const BELL_COUNT = 0;
/** 1 while the owner thread is parked (or about to park). Written ONLY by the owner. */
export const BELL_SLEEPING = LINE_WORDS;
/**
 * Forwarding (a host whose servers may move between threads, Supervisor.regroup): every server
 * then has a doorbell of its own that producers ring, and this word names (by BELL_ID) the
 * doorbell of the thread that runs the server now, 0 while the server leads its thread and
 * sleeps on this one. Written by the supervisor only; read by every ringer before SLEEPING,
 * on the same cache line.
 */
export const BELL_FORWARD = LINE_WORDS + 1;
/** This doorbell's number in its process (doorbell.ts createDoorbell), what BELL_FORWARD names. */
export const BELL_ID = LINE_WORDS + 2;
/**
 * An eventfd + 1 (0: none) that the owner may sleep on instead of the count word, beside a
 * device's fd (ServerContext.sleepBeside): a ringer that finds the owner sleeping writes to it
 * too. Written by the owner before its loop runs; the fd outlives every thread that rings.
 */
export const BELL_WAKE_FD = LINE_WORDS + 3;
/** 1 when the supervisor has posted a control message on the thread's control port. */
export const BELL_CONTROL = 2 * LINE_WORDS;
/**
 * COUNTED_IN while the owner's loop is counted in SYS_RUNNABLE; COUNTED_PARKED while it is
 * parked (or about to) and not counted; 0 before its loop ran. Moved by the owner, by a
 * producer that wakes it (PARKED -> IN, doorbell.ts "Wake accounting"), and after the owner
 * died by the supervisor (to take the count back).
 */
export const BELL_COUNTED = 2 * LINE_WORDS + 1;
export const COUNTED_IN = 1;
export const COUNTED_PARKED = 2;
/**
 * The polling mode the supervisor's thread monitor chose for this thread (POLL_OVERRIDE_*):
 * 0 keeps the manifest's mode. Written by the supervisor, read by the owner when idle.
 */
export const BELL_POLLING = 2 * LINE_WORDS + 2;
/** The owner thread's OS thread id (Linux TID, 0 unknown), for pinning. Written by the owner at start. */
export const BELL_TID = 2 * LINE_WORDS + 3;
/**
 * The thread's warm standby (takeover.ts STANDBY_*): the successor already built for the next
 * generation, waiting on this word. Moved by compare-and-swap only: the supervisor arms it,
 * the standby says it is ready, and the dying thread itself (or the supervisor) promotes it.
 */
export const BELL_STANDBY = 2 * LINE_WORDS + 4;
/** Float64 index: when the thread died (monotonic ms), written by whoever promotes the standby. */
export const BELL_F64_DEATH_AT = LINE_WORDS + 3;
export const BELL_WORDS = 3 * LINE_WORDS;

/** BELL_POLLING values. */
export const POLL_OVERRIDE_NONE = 0;
export const POLL_OVERRIDE_ADAPTIVE = 1;
export const POLL_OVERRIDE_BUSY = 2;
export const POLL_OVERRIDE_SLEEP = 3;

// ---------------------------------------------------------------------------
// Per-server control block (stats.ts): heartbeat, generation, statistics.
// Int32 words first, then a Float64 area (index in Float64 units).
// ---------------------------------------------------------------------------

/** Loop iteration counter; the hang detector watches it. Written by the server's loop. */
export const CB_HEARTBEAT = 0;
/** Current generation. Written by the supervisor before the successor starts. */
export const CB_GENERATION = 1;
/** Lifecycle state (ServerState below). Written by the supervisor, and by the loop (RUNNING). */
export const CB_STATE = 2;
/** Restarts so far. Written by the supervisor. */
export const CB_RESTARTS = 3;
/** Messages taken from all inputs. Server-written. */
export const CB_MSGS_IN = 4;
/** Messages published on all outputs. Server-written. */
export const CB_MSGS_OUT = 5;
/** Idle-loop iterations spent spinning. Server-written (per thread: the group leader's block). */
export const CB_SPINS = 6;
/** Times the loop parked in Atomics.wait. */
export const CB_PARKS = 7;
/** Parks that ended by a doorbell (not a time-out). */
export const CB_WAKEUPS = 8;
/** Times onMessage refused a message (back-pressure). */
export const CB_BACKPRESSURE = 9;
/** Messages with a stale (old-generation) rich pointer, dropped. */
export const CB_STALE_DROPS = 10;
/** Buffer allocations that failed (pool exhausted). */
export const CB_POOL_EXHAUSTED = 11;
/** Total Int32 words before the Float64 area (kept 8-byte aligned). */
export const CB_I32_WORDS = 16;
/** Float64 index: milliseconds spent with work (busy). */
export const CB_F64_BUSY_MS = CB_I32_WORDS / 2 + 0;
/** Float64 index: milliseconds parked or spinning without work. */
export const CB_F64_IDLE_MS = CB_I32_WORDS / 2 + 1;
/** Float64 index: monotonic ms when the server last died by injected fault (written by the dying server). */
export const CB_F64_FAULT_AT = CB_I32_WORDS / 2 + 2;
/** Float64 index: monotonic ms when this generation processed its first message. */
export const CB_F64_FIRST_MSG_AT = CB_I32_WORDS / 2 + 3;
export const CB_BYTES = CB_I32_WORDS * 4 + 4 * 8;

/** Values of CB_STATE. */
export const ServerState = {
  Starting: 0,
  Running: 1,
  Dead: 2,
  Failed: 3,
  Stopped: 4,
} as const;

// ---------------------------------------------------------------------------
// System block: facts every loop reads to adapt its polling.
// ---------------------------------------------------------------------------

/** Threads currently not parked (Atomics.add by each loop). */
export const SYS_RUNNABLE = 0;
/** Cores available (written once by the supervisor). */
export const SYS_CORES = 1;
/**
 * The machine's 1-minute load average x 100 (written by the supervisor every
 * hang check). It sees what SYS_RUNNABLE cannot: other processes' threads.
 */
export const SYS_LOADAVG_X100 = 2;
export const SYS_WORDS = LINE_WORDS;

// ---------------------------------------------------------------------------
// Packet pool (pool.ts): header, per-buffer state words, then the buffers.
// ---------------------------------------------------------------------------

/** Owner's current generation (u16 used in pointers). Written by the owner. */
export const POOL_GEN = 0;
/** Buffer size in bytes. Written once. */
export const POOL_BUF_SIZE = 1;
/** Number of buffers. Written once. */
export const POOL_COUNT = 2;
/** Pool id (global, assigned by the supervisor). Written once. */
export const POOL_ID = 3;
export const POOL_MAGIC_WORD = 4;
export const POOL_MAGIC = 0x504f4f4c; // 'POOL'
/** First per-buffer state word. */
export const POOL_STATE0 = LINE_WORDS;

/** Buffer-state word encoding: kind in the low 2 bits, holder (server index + 1) above. */
export const BUF_FREE = 0;
export const BUF_RETURNED = 1;
export const BUF_IN_FLIGHT = 2;
export const BUF_HELD = 3;

/** Headroom reserved at the front of every buffer for headers prepended in place. */
export const POOL_HEADROOM = 128;
/** Size class for one Ethernet frame (1500 + 14 + headroom, rounded to 2 KiB). */
export const POOL_FRAME_BUF = 2048;
/** Size class for a 64 KiB segment plus headroom. */
export const POOL_SEGMENT_BUF = 65536 + 512;
