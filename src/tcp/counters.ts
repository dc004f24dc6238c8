/**
 * Named counters of one TCP engine (gVisor's tcpip.TCPStats habit: every drop
 * path has its own counter). Plain data: the TCP server copies it into its
 * statistics block.
 */
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
  /** SYNs dropped because the segment buffers left are kept for existing connections (SegmentAllocator.lowOnBuffers). */
  dropSynNoBuffers = 0;
  dropBadCookie = 0;
  dropOooLimit = 0;
  dropNoRoom = 0;
  dropInvalidAddress = 0;
  // output
  segmentsOut = 0;
  retransmits = 0;
  fastRetransmits = 0;
  rtoTimeouts = 0;
  sackRecoveries = 0;
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
  connectionsReset = 0;
  connectionsTimedOut = 0;
  icmpErrors = 0;
  pmtuUpdates = 0;
}
