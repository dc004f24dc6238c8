/**
 * The transmission control block (RFC 9293 §3.3.1): everything one connection
 * remembers. Kept as plain numeric/boolean fields so that a later step can lay it
 * out in shared memory and resume connections after a TCP server restart; the
 * only non-plain members are the two socket buffers (ByteRings, already
 * shared-memory capable), the out-of-order interval set, the SACK scoreboard and
 * the congestion controller, each of which has a small plain state.
 *
 * Sequence variables are unsigned 32-bit numbers compared with seqnum.ts.
 * Data in the send ring starts at `sndBufSeq` (the sequence number of the
 * ring's head byte); data in the receive ring ends at RCV.NXT (the ring's tail).
 */
import { ByteRing } from '../abi/byte-ring.js';
import { Assembler } from './assembler.js';
import type { ConnectionOptions } from './config.js';
import { createCongestionControl, DeliveryRateEstimator, type CongestionControl } from './congestion/index.js';
import type { Rng } from '../random/rng.js';
import { SackScoreboard } from './sack-scoreboard.js';
import { RackState } from './rack.js';
import { RttEstimator, type RttEstimatorOptions } from './rtt-estimator.js';
import { TcpState } from './state.js';

export class Tcb {
  /** Connection id the socket layer knows this connection by. */
  readonly id: number;
  state: TcpState = TcpState.Closed;
  localAddr: number;
  localPort: number;
  remoteAddr: number;
  remotePort: number;
  /** Listener id that created this connection (passive open), else -1. */
  listenerId = -1;
  /** The passive connection has been handed to accept() (or was active). */
  accepted = false;
  /** Counted in its listener's SYN queue (SYN-RECEIVED from a SYN, not a cookie). */
  inSynQueue = false;
  /** The application called close(): the id is freed once the protocol reaches CLOSED. */
  released = false;
  /** Counted among the connections in TIME-WAIT (engine admitTimeWait). */
  timeWaitCounted = false;
  /** Changed since the owner last took the list of changed connections (TcpEngine.drainTouched). */
  touched = false;
  /** Next connection in the same demux hash bucket (intrusive chain). */
  nextInBucket: Tcb | null = null;

  // ---- send sequence space (RFC 9293 §3.3.1) ----
  iss = 0;
  sndUna = 0;
  sndNxt = 0;
  /** Highest sequence number sent + 1 (SND.NXT can be pulled back by an RTO). */
  sndMax = 0;
  /** Send window in bytes (already scaled). */
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  /** Largest window the peer has offered (RFC 5961 MAX.SND.WND, sender SWS). */
  maxSndWnd = 0;
  /** Sequence number of the send ring's head byte. */
  sndBufSeq = 0;
  /** The application shut down its sending side: FIN at finSeq. */
  finQueued = false;
  finSeq = 0;
  /** Effective send MSS (payload bytes, options already subtracted). */
  sndMss = 536;
  /** MSS we advertise. */
  advMss = 1460;

  // ---- receive sequence space ----
  irs = 0;
  rcvNxt = 0;
  /** Right edge of the window we last advertised (RCV.NXT + RCV.WND then). */
  rcvAdv = 0;
  /** The peer's FIN is known (possibly out of order) at rcvFinSeq. */
  rcvFinKnown = false;
  rcvFinSeq = 0;
  /** RCV.NXT carried by our last ACK (RFC 7323 Last.ACK.sent). */
  lastAckSent = 0;

  // ---- options (RFC 7323, RFC 2018) ----
  sndWndScale = 0;
  rcvWndScale = 0;
  /** Whether we offered window scaling in our SYN (it applies only if both did). */
  offeredWscale = false;
  tsEnabled = false;
  /** TS.Recent and when it was set (ms), for PAWS. */
  tsRecent = 0;
  tsRecentAge = 0;
  /** When we last answered a pure ACK that PAWS or the window check dropped (rate limit, input.ts replyAllowed). */
  oowAckReplyAt = -Infinity;
  /** Added to our millisecond clock to form TSval (random per connection). */
  tsOffset = 0;
  sackEnabled = false;

  // ---- RTT and retransmission (RFC 6298) ----
  readonly rtt: RttEstimator;
  /** Consecutive RTO expirations (back-off exponent). */
  retries = 0;
  /** Karn's timing of one segment when timestamps are off: sequence and send time (-1 idle). */
  rttSeq = 0;
  rttTime = -1;
  /** Our TSval when we last retransmitted (timestamp samples must echo at least this). */
  rtxTsVal = 0;
  hasRetransmitted = false;
  /** When SND.UNA last advanced (user timeout). */
  lastProgress = 0;

  // ---- loss recovery (RFC 5681, 6582, 6675) ----
  dupAcks = 0;
  inRecovery = false;
  /** RFC 6582/6675 "recover": SND.MAX when recovery started. */
  recover = 0;
  /** Highest sequence retransmitted during this recovery (RFC 6675 HighRxt). */
  highRxt = 0;
  /** Length of the hole nextLostHole() found. */
  holeLen = 0;
  /**
   * RFC 6937 Proportional Rate Reduction during a SACK recovery of a window-based
   * controller: `prr` on, RecoverFS (flight when recovery began), prr_delivered,
   * prr_out, and the window the sender uses until recovery ends (pipe + sndcnt).
   */
  prr = false;
  /** RFC 8985 §7 tail loss probe: its deadline, SND.MAX when the probe left (-1: none out), a D-SACK for it seen. */
  ptoAt = Infinity;
  tlpHighSeq = -1;
  tlpDsacked = false;
  prrRecoverFs = 0;
  prrDelivered = 0;
  prrOut = 0;
  prrCwnd = 0;
  /** Scratch for the SACK blocks of our outgoing ACKs. */
  readonly sackOut = new Uint32Array(8);
  /**
   * Receiver: a duplicate segment arrived, [dsackStart, dsackEnd) goes as the
   * first SACK block of our next ACK (RFC 2883 §4), once.
   */
  dsackPending = false;
  dsackStart = 0;
  dsackEnd = 0;
  /**
   * Sender: the reordering degree seen on this path, in segments (Linux
   * tp->reordering): the DupThresh of RFC 6675's IsLost and of fast
   * retransmit. Starts at 3 (RFC 5681) and grows with the reordering that
   * SACKs and D-SACKs show (recovery.ts).
   */
  reordering = 3;
  /**
   * Undo (RFC 3708 / Linux undo_marker): a congestion response since SND.UNA
   * was undoMarker may be undone when D-SACKs show that each of its
   * undoRetrans retransmitted segments arrived twice.
   */
  undoActive = false;
  undoMarker = 0;
  undoRetrans = 0;
  /**
   * Retransmissions since the last RTO, in send order, as [seq, end, SND.MAX then,
   * segments sent after it delivered, send time] entries: one is lost when data first
   * sent after it is SACKed, or later retransmissions are delivered, beyond the
   * reordering allowance, or two SRTTs after it left (recovery.ts detectLostRetransmits).
   */
  readonly rtxLog: number[] = [];
  /** The current recovery episode started with an RTO (go-back-N resends are not reordering evidence). */
  rtoEpisode = false;

  // ---- ACK generation ----
  /** Full-sized segments received since our last ACK. */
  ackPending = 0;
  /** An ACK must go out on the next output (immediate ACK). */
  ackNow = false;

  // ---- timers: absolute ms, Infinity when off ----
  rtoAt = Infinity;
  /** The rto timer runs as the persist timer (zero window probing). */
  persisting = false;
  delackAt = Infinity;
  keepaliveAt = Infinity;
  /** TIME-WAIT expiry, FIN-WAIT-2 timeout. */
  closeAt = Infinity;
  keepaliveProbes = 0;
  /** Zero-window probes sent without an ACK in reply. */
  persistProbes = 0;
  /** Persist timer back-off exponent (kept while the window stays closed). */
  persistBackoff = 0;
  lastRecv = 0;
  /** The deadline last registered in the engine's timer heap (to avoid duplicates). */
  heapAt = Infinity;

  // ---- application-facing flags ----
  /** The application found the send buffer full: emit Writable when space frees. */
  wantWritable = false;
  /** End of stream was reported. */
  endReported = false;
  /** Output could not allocate a buffer: retry later. */
  outputBlocked = false;
  synOptionsMss = -1;

  readonly opts: ConnectionOptions;
  /** The buffer provider's tag for sendBuf/recvBuf (-1: private rings, or given back: detachRings). */
  bufferTag: number = -1;
  sendBuf: ByteRing;
  recvBuf: ByteRing;
  readonly ooo: Assembler;
  /** The sender's SACK scoreboard (RFC 6675). */
  readonly scoreboard: SackScoreboard;
  /** Congestion controller (cwnd, ssthresh); created with the configured MSS, re-sized on establishment. */
  readonly cc: CongestionControl;
  /** Delivery rate estimator, for controllers that run on rate samples (BBR); else undefined. */
  readonly rate: DeliveryRateEstimator | undefined;
  /** Pacing (pacing.ts): earliest time the next data segment may leave (ms). */
  paceNext = 0;
  /** Pacing timer: output waits for this deadline (Infinity: not waiting). */
  paceAt = Infinity;
  /** RACK (rack.ts, RFC 8985) state and its reordering timer deadline (Infinity: off). */
  readonly rack = new RackState();
  rackAt = Infinity;

  constructor(
    id: number, opts: ConnectionOptions, rtt: RttEstimatorOptions, maxOooRanges: number,
    localAddr: number, localPort: number, remoteAddr: number, remotePort: number,
    rings?: { send: ByteRing; recv: ByteRing; tag: number },
    rng?: Rng,
  ) {
    this.id = id;
    this.opts = opts;
    this.cc = createCongestionControl(opts.congestion, { mss: opts.mss, now: 0, abcLimit: opts.abcLimit, ...(rng ? { rng } : {}) });
    this.rate = this.cc.wantsRateSamples === true ? new DeliveryRateEstimator() : undefined;
    if (this.rate !== undefined) this.cc.setRateEstimator?.(this.rate);
    this.rtt = new RttEstimator(rtt);
    this.localAddr = localAddr;
    this.localPort = localPort;
    this.remoteAddr = remoteAddr;
    this.remotePort = remotePort;
    if (rings !== undefined) {
      this.sendBuf = rings.send;
      this.recvBuf = rings.recv;
      this.bufferTag = rings.tag;
    } else {
      this.sendBuf = new ByteRing(new ArrayBuffer(ByteRing.bytesNeeded(opts.sendBufferSize)), 0, opts.sendBufferSize);
      this.recvBuf = new ByteRing(new ArrayBuffer(ByteRing.bytesNeeded(opts.recvBufferSize)), 0, opts.recvBufferSize);
    }
    this.ooo = new Assembler({ maxRanges: maxOooRanges });
    this.scoreboard = new SackScoreboard({ mss: opts.mss, maxRanges: 512 });
    this.advMss = opts.mss;
  }

  /**
   * Swaps the provider's rings for `idle` ones (empty, never written: see
   * TcpEngine.releaseTimeWaitRings) and returns the tag to give back.
   */
  detachRings(idle: { readonly send: ByteRing; readonly recv: ByteRing }): number {
    const tag = this.bufferTag;
    this.sendBuf = idle.send;
    this.recvBuf = idle.recv;
    this.bufferTag = -1;
    return tag;
  }
}
