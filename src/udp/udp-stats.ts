/**
 * The UDP server's counters in shared memory: one Float64 per named counter,
 * written only by the UDP server, read racily by anyone holding the buffer
 * (the application's Stack.udpStats(), tests), never by asking the server.
 */

export const UDP_STAT_NAMES = [
  // UdpCore (input fate: received = delivered + sum of the four drops)
  'received', 'delivered', 'dropTruncated', 'dropBadLength', 'dropBadChecksum', 'dropNoPort',
  // server: receive side
  /** Delivered by the core but the socket's receive ring had no room: dropped (UDP may). */
  'dropRecvRingFull',
  /** Port unreachable requested from IP (one per no-port drop that could be quoted). */
  'portUnreachableRequested',
  /** No-port drops for which no ICMP error could be asked (no IPv4 header in front, or the IP channel was full). */
  'portUnreachableNotSent',
  // server: send side
  'sent',
  /** Records in a send ring that were not a valid record (a broken app): discarded. */
  'dropBadRecord',
  /** Records too large for a pool buffer: discarded. */
  'dropTooBig',
  /** Sends that waited for a pool buffer or room in the channel to IP. */
  'sendStalls',
  /** Sockets closed with records still in their send ring (no buffer or channel room then): discarded. */
  'dropAtClose',
  // ICMP errors about datagrams we sent (from IP)
  'icmpErrorsIn', 'icmpPortUnreachableIn',
  // control
  'binds', 'bindFailures', 'closes', 'kicks', 'unknownMessages',
] as const;

export type UdpStatName = (typeof UDP_STAT_NAMES)[number];
export type UdpStats = Record<UdpStatName, number>;

export const UDP_STATS_BYTES = UDP_STAT_NAMES.length * 8;

const INDEX = Object.fromEntries(UDP_STAT_NAMES.map((n, i) => [n, i])) as Record<UdpStatName, number>;

export function createUdpStats(): SharedArrayBuffer {
  return new SharedArrayBuffer(UDP_STATS_BYTES);
}

/** The server's writer over the counters. */
export class UdpStatsWriter {
  private readonly f64: Float64Array;

  constructor(sab: SharedArrayBuffer) {
    this.f64 = new Float64Array(sab, 0, UDP_STAT_NAMES.length);
  }

  add(name: UdpStatName, n = 1): void {
    this.f64[INDEX[name]]! += n;
  }

  set(name: UdpStatName, v: number): void {
    this.f64[INDEX[name]] = v;
  }
}

export function readUdpStats(sab: SharedArrayBuffer): UdpStats {
  const f64 = new Float64Array(sab, 0, UDP_STAT_NAMES.length);
  return Object.fromEntries(UDP_STAT_NAMES.map((n, i) => [n, f64[i]!])) as UdpStats;
}
