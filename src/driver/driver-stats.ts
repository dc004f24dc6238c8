/**
 * The driver's own counters in shared memory (next to the per-link counters of
 * src/driver/nic/link-stats.ts): receive queues chosen by software RSS, and the work
 * of the software offloads. Written only by the driver with plain stores
 * (statistics: a torn read is harmless, the next publish repairs it); read by
 * the application, the CLI and Prometheus without a message.
 *
 * Layout (Float64): [0..11] gsoBursts, gsoSegments, gsoMalformed, groPackets,
 * groMerged, groBadChecksums, tsoBursts, rxSuperFrames, checksumsFilled,
 * rxNoBufferEpisodes, rxNoBufferMs, gsoRestarted, rxCopied; then one slot per receive queue (RSS_QUEUES_MAX).
 */
import { RSS_TABLE_SIZE } from './nic/rss.js';

const FIXED = 13;
/** Receive queues the block has room for (the indirection table's size). */
export const RSS_QUEUES_MAX = RSS_TABLE_SIZE;

export function createDriverStats(): SharedArrayBuffer {
  return new SharedArrayBuffer((FIXED + RSS_QUEUES_MAX) * 8);
}

export interface DriverStats {
  /** TSO bursts the driver cut into wire segments, and the segments it sent. */
  readonly gsoBursts: number;
  readonly gsoSegments: number;
  /** Bursts that were not TCP/IPv4 and were dropped. */
  readonly gsoMalformed: number;
  /**
   * Half-sent bursts forgotten: a full link took them only in part and more half-sent bursts
   * than the driver keeps came after them (if such a message comes again, it is cut again and
   * its first segments go twice).
   */
  readonly gsoRestarted: number;
  /** Merged packets handed to IP, and the frames merged into them. */
  readonly groPackets: number;
  readonly groMerged: number;
  /** TCP frames whose checksum failed the receive-offload check (passed on for TCP to count and drop). */
  readonly groBadChecksums: number;
  /** Bursts handed whole to a link that segments them itself (TAP with IFF_VNET_HDR: the kernel's TSO). */
  readonly tsoBursts: number;
  /** Super-frames (up to 64 KiB, larger than the MTU) received from such a link (the kernel's GSO). */
  readonly rxSuperFrames: number;
  /**
   * TCP checksums TCP left unfilled (checksum offload) that had to be filled on the way out:
   * by the driver for a link without offload, or by a switch port for a receiver without it.
   */
  readonly checksumsFilled: number;
  /**
   * Times the driver found no receive buffer to post (all lent to IP and the transports
   * behind it), and the ms it spent so, counted when each such stretch ends (frames then wait
   * in the link, or the link drops them).
   */
  readonly rxNoBufferEpisodes: number;
  readonly rxNoBufferMs: number;
  /** Small frames read into a segment-size buffer and handed on in a frame-size copy (copybreak). */
  readonly rxCopied: number;
  /** Frames received per RSS receive queue (length: the configured queues). */
  readonly rxQueueFrames: readonly number[];
}

export interface DriverCounts {
  gsoBursts: number;
  gsoSegments: number;
  gsoMalformed: number;
  gsoRestarted: number;
  groPackets: number;
  groMerged: number;
  tsoBursts: number;
  rxSuperFrames: number;
  checksumsFilled: number;
  rxNoBufferEpisodes: number;
  rxNoBufferMs: number;
  rxCopied: number;
}

/** The driver's side. */
export class DriverStatsPublisher {
  private readonly v: Float64Array;

  constructor(sab: SharedArrayBuffer) {
    this.v = new Float64Array(sab);
  }

  publish(c: DriverCounts, groBadChecksums: number, rxQueueFrames: ArrayLike<number>): void {
    const v = this.v;
    v[0] = c.gsoBursts; v[1] = c.gsoSegments; v[2] = c.gsoMalformed; v[3] = c.groPackets; v[4] = c.groMerged;
    v[5] = groBadChecksums; v[6] = c.tsoBursts; v[7] = c.rxSuperFrames; v[8] = c.checksumsFilled;
    v[9] = c.rxNoBufferEpisodes; v[10] = c.rxNoBufferMs; v[11] = c.gsoRestarted; v[12] = c.rxCopied;
    const n = Math.min(rxQueueFrames.length, RSS_QUEUES_MAX);
    for (let q = 0; q < n; q++) v[FIXED + q] = rxQueueFrames[q]!;
  }
}

export function readDriverStats(sab: SharedArrayBuffer, queues: number): DriverStats {
  const v = new Float64Array(sab);
  return {
    gsoBursts: v[0]!, gsoSegments: v[1]!, gsoMalformed: v[2]!, groPackets: v[3]!, groMerged: v[4]!, groBadChecksums: v[5]!,
    tsoBursts: v[6]!, rxSuperFrames: v[7]!, checksumsFilled: v[8]!, rxNoBufferEpisodes: v[9]!, rxNoBufferMs: v[10]!, gsoRestarted: v[11]!, rxCopied: v[12]!,
    rxQueueFrames: Array.from({ length: Math.min(queues, RSS_QUEUES_MAX) }, (_, q) => v[FIXED + q]!),
  };
}
