/**
 * The RSS indirection table of a host with replicas, in shared memory: the driver steers
 * by it, each replica's TCP reads it to choose local ports whose replies come back to it,
 * and the supervisor's monitor rewrites entries to move new flows off a replica it drains
 * (docs/ARCHITECTURE.md, "Replicas"). One byte per entry, the replica's index; a store of
 * one byte is atomic, so readers see either the old or the new replica of an entry.
 *
 * Beside it, per replica, how many live TCP connections each entry holds (written by that
 * replica's TCP only): the monitor moves an entry only when it holds none, so no existing
 * flow changes replica.
 */
import type { ToeplitzHash } from '../random/toeplitz.js';

/** Indirection table entries (a power of two, as in the 82599 and in Windows). */
export const RSS_TABLE_SIZE = 128;

/** A table spread round-robin over `replicas` replicas. */
export function createRssTable(replicas: number): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(RSS_TABLE_SIZE);
  const t = new Uint8Array(sab);
  for (let i = 0; i < RSS_TABLE_SIZE; i++) t[i] = i % replicas;
  return sab;
}

/** Per replica: live connections per table entry (Int32, RSS_TABLE_SIZE words each). */
export function createEntryLoad(replicas: number): SharedArrayBuffer {
  return new SharedArrayBuffer(replicas * RSS_TABLE_SIZE * 4);
}

/**
 * Per entry: TCP frames the driver steered by it so far (Int32; the count in the low
 * ENTRY_COUNT_BITS, kept below its top by the driver). The monitor moves an entry only after
 * it has been quiet a while: a SYN on its way to a replica, or a SYN-ACK sent with a cookie,
 * is a connection no table counts yet, and its next segment must reach the same replica.
 *
 * Moving an entry without a frame going the wrong way: the monitor takes the entry with a
 * compare-and-swap of the count it saw quiet to the same count | ENTRY_MOVING — it fails if a
 * frame was counted since — then writes the entry and clears ENTRY_MOVING. The driver counts
 * a frame (Atomics.add, which returns the word before) and, if ENTRY_MOVING was set, waits for
 * it to clear before it reads the entry. So a frame counted before the swap makes the move
 * fail and reads the old entry; a frame counted after it reads the new one. (The monitor used
 * to write the entry, read the count again and put the entry back if it had moved: a frame
 * that had read the new entry in between then went to a replica its flow would not see again.)
 */
export function createEntryFrames(): SharedArrayBuffer {
  return new SharedArrayBuffer(RSS_TABLE_SIZE * 4);
}

/** Set in an entry's frame count while the monitor moves the entry (see createEntryFrames). */
export const ENTRY_MOVING = 1 << 30;
/** The frame count's bits; the driver halves the count before it reaches ENTRY_MOVING. */
export const ENTRY_COUNT_BITS = 29;
export const ENTRY_COUNT_MASK = (1 << ENTRY_COUNT_BITS) - 1;

/** The table entry of a connection's received frames (remote → local). */
export function entryOfConnection(hasher: ToeplitzHash, local: number, localPort: number, remote: number, remotePort: number): number {
  return hasher.hashV4(remote, local, remotePort, localPort) & (RSS_TABLE_SIZE - 1);
}

/**
 * UDP is steered by destination port, not by the 4-tuple: an unconnected socket receives
 * from anyone, so every datagram for one local port must reach the one replica that has
 * the socket bound. Fixed over the replicas that were started (the monitor does not move it).
 */
export function replicaOfUdpPort(port: number, replicas: number): number {
  return port % replicas;
}
