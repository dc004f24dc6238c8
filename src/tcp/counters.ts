/**
 * Named counters of one TCP engine (gVisor's tcpip.TCPStats habit: every drop
 * path has its own counter). Plain data: the TCP server copies it into its
 * statistics block.
 */
import { TcpState } from './state.js';

export class TcpCounters {
  // input
  segmentsIn = 0;
  dropTruncated = 0;
  dropBadDataOffset = 0;
  dropBadChecksum = 0;
  dropNoSocket = 0;
  /** No buffer memory (socket table full) for a new connection. */
  dropNoBuffers = 0;
  /** Segments outside the receive window, answered with an ACK (pure ACKs: rate-limited). */
  dropOutOfWindow = 0;
  /** Pure ACKs outside the window dropped without the reply ACK (rate limit, input.ts). */
  outOfWindowAcksNotAnswered = 0;
  /** Segments dropped by PAWS (RFC 7323 §5.3 R1), answered with an ACK (pure ACKs: rate-limited). */
  dropPaws = 0;
  /** Reordered duplicate ACKs that failed R1 and were accepted anyway (input.ts isDisorderedAck). */
  pawsDisorderedAcks = 0;
  /** Pure ACKs dropped by PAWS without the reply ACK (rate limit, input.ts). */
  pawsAcksNotAnswered = 0;
  dropBadAck = 0;
  dropListenNonSyn = 0;
  dropSynQueueFull = 0;
  /**
   * SYNs dropped because the buffers left are kept for existing connections: segment buffers
   * (SegmentAllocator.lowOnBuffers), or, with SYN cookies off, sockets (ConnectionBufferProvider.free).
   */
  dropSynNoBuffers = 0;
  dropBadCookie = 0;
  /** ACKs with a valid SYN cookie dropped (no RST) while the accept queue was full: the peer retries (Linux ListenOverflows). */
  dropCookieAcceptQueueFull = 0;
  dropOooLimit = 0;
  dropNoRoom = 0;
  dropInvalidAddress = 0;
  /** Connections that closed at once instead of waiting in TIME-WAIT: maxTimeWait were waiting (Linux TCPTimeWaitOverflow). */
  timeWaitOverflow = 0;
  // output
  /** Segments sent, a TSO burst counted as the MSS-sized segments it is cut into (Linux OutSegs). */
  segmentsOut = 0;
  /** Segments retransmitted, in MSS-sized segments. */
  retransmits = 0;
  fastRetransmits = 0;
  rtoTimeouts = 0;
  sackRecoveries = 0;
  /** D-SACK blocks sent for duplicate segments received (RFC 2883). */
  dsacksSent = 0;
  /** D-SACK blocks received (RFC 2883). */
  dsacksReceived = 0;
  /** Retransmitted segments a D-SACK showed the receiver already had (spurious retransmissions). */
  spuriousRetransmits = 0;
  /** Congestion responses undone because D-SACKs showed every retransmission of the episode spurious (RFC 3708). */
  spuriousRecoveriesUndone = 0;
  /** Retransmissions found lost (data sent after them SACKed) and sent again without waiting for the RTO. */
  lostRetransmits = 0;
  /** Tail loss probes sent (RFC 8985 §7), and those whose ACK showed they repaired a loss. */
  tlpProbes = 0;
  tlpRecoveries = 0;
  /** Times SACKs or D-SACKs raised the reordering degree (the adaptive DupThresh). */
  reorderingDetected = 0;
  /** Segments (or TSO bursts) RACK marked lost by time (RFC 8985 §6.2). */
  rackLost = 0;
  /** Rounds with a D-SACK that widened RACK's reordering window (RFC 8985 §6.2 step 4). */
  rackReoWndGrown = 0;
  newRenoRecoveries = 0;
  rstsOut = 0;
  challengeAcks = 0;
  challengeAcksSuppressed = 0;
  allocFailures = 0;
  delayedAcks = 0;
  zeroWindowProbes = 0;
  keepAliveProbes = 0;
  // connections
  activeOpens = 0;
  passiveOpens = 0;
  synCookiesSent = 0;
  synCookiesAccepted = 0;
  /** Cookie ACKs that found the SYN-RECEIVED entry of the same SYN sent again, which gave way to the cookie. */
  synCookiesOverSynReceived = 0;
  connectionsReset = 0;
  connectionsTimedOut = 0;
  icmpErrors = 0;
  pmtuUpdates = 0;
  /** "Fragmentation needed" reports whose MTU leaves SND.MSS as it is (nothing smaller to send). */
  pmtuIgnored = 0;
}

/**
 * Label of each connection state (indexed by TcpState), lower-case as `ss`
 * prints them; the keys of TcpGauges.connections.
 */
export const TCP_STATE_LABELS = [
  'closed', 'listen', 'syn-sent', 'syn-received', 'established', 'fin-wait-1', 'fin-wait-2',
  'close-wait', 'closing', 'last-ack', 'time-wait',
] as const;
export type TcpStateLabel = (typeof TCP_STATE_LABELS)[number];

/**
 * What the engine holds now, beside its running counts: connections by state
 * (listeners as 'listen'; 'closed': reset or timed-out connections the
 * application has not closed yet) and the smoothed RTT (RFC 6298 SRTT) of the
 * connections that exchange data (synchronized, not TIME-WAIT) and have a sample.
 */
export interface TcpGauges {
  readonly connections: Record<TcpStateLabel, number>;
  readonly rtt: { readonly connections: number; readonly minMs: number; readonly meanMs: number; readonly maxMs: number };
}

/** The gauges over the engine's control blocks (one pass; the TCP server calls it when it publishes). */
export function tcpGauges(conns: Iterable<{ readonly state: number; readonly rtt: { readonly srtt: number | undefined } } | undefined>, listeners: number): TcpGauges {
  const byState = new Array<number>(TCP_STATE_LABELS.length).fill(0);
  byState[TcpState.Listen] = listeners;
  let n = 0;
  let sum = 0;
  let min = Infinity;
  let max = 0;
  for (const t of conns) {
    if (t === undefined) continue;
    byState[t.state]!++;
    // ESTABLISHED .. LAST-ACK: data still moves one way or the other.
    const srtt = t.state >= TcpState.Established && t.state <= TcpState.LastAck ? t.rtt.srtt : undefined;
    if (srtt === undefined) continue;
    n++;
    sum += srtt;
    if (srtt < min) min = srtt;
    if (srtt > max) max = srtt;
  }
  const connections = Object.fromEntries(TCP_STATE_LABELS.map((l, i) => [l, byState[i]!])) as Record<TcpStateLabel, number>;
  return { connections, rtt: { connections: n, minMs: n === 0 ? 0 : min, meanMs: n === 0 ? 0 : sum / n, maxMs: max } };
}
