/**
 * Connection checkpoints (the layout is src/sockets/tcb-checkpoint.ts): what a
 * TCP server writes about each changed connection at the end of a batch, and how
 * its successor rebuilds the control block from it after a crash or hang.
 *
 * What is saved: the 4-tuple and state, ISS/IRS, SND.UNA/NXT/MAX/WND/WL1/WL2,
 * RCV.NXT and the right edge we advertised, window scales, MSS, timestamps
 * (TS.Recent and our TSval), SACK-permitted, the out-of-order ranges of the
 * receive ring, RTT estimate and congestion state, timer deadlines, and where
 * the rings' counters stood.
 *
 * What the successor does with it:
 * - The rings may have moved since the checkpoint (a crash in the middle of a
 *   batch): bytes the app has read or written, bytes received and published,
 *   bytes acknowledged and freed. Ring counters are the truth: SND.UNA is at
 *   least the sequence number of the send ring's head now (bytes leave the
 *   send ring only when acknowledged), RCV.NXT is the checkpoint's plus what
 *   the receive ring's tail moved. Segments the predecessor built in that batch
 *   were never published (the server loop publishes after the batch), and the
 *   inputs of the batch are delivered again.
 * - It resends from SND.UNA (go-back-N with the restart window: the peer sees at
 *   most a retransmission), with a fresh congestion window (RFC 5681 §4.1's
 *   restart window, IW) but the saved ssthresh (slow start stops where the
 *   predecessor found the path's limit), and the RTO from the saved SRTT (RFC
 *   6298 rules apply).
 * - Our timestamps continue from the saved TSval plus the time that passed
 *   (measured on a process-wide monotonic clock: each worker's own clock has
 *   its own origin), so the peer's PAWS check (RFC 7323 §5) never sees them go
 *   back.
 * - The right edge of the window never moves left (RFC 9293 §3.8.6): RCV.ADV is
 *   at least the checkpoint's; a window the predecessor advertised later is at
 *   most RCV.NXT + the ring's free space now, which the successor offers.
 * - A FIN the predecessor published to the app (ServerFlag.PeerFin) after the
 *   checkpoint is applied (RCV.NXT + 1 and the state that follows).
 * - The sender's SACK scoreboard (its lowest CK_MAX_SACKED ranges) is SACKed again, so
 *   the successor's resend from SND.UNA skips what the peer holds already (a peer that
 *   SACKed a range and then reneged re-opens it by its next ACKs and the RTO, as ever).
 */
import { CK, CK_FLAG, CK_MAX_RANGES, CK_MAX_SACKED, type CheckpointArea } from '../abi/tcb-checkpoint.js';
import { tsNow } from './output.js';
import { seqAdd, seqDiff, seqGt, seqMax } from './seqnum.js';
import { TcpState } from './state.js';
import type { Tcb } from './tcb.js';

/** The writer's clock (`now`, ms) and a process-wide monotonic clock (ms) at the same moment. */
export interface CheckpointClock {
  readonly now: number;
  readonly mono: number;
}

/** Write t's checkpoint into `slot` (the copy not in use, then switch to it). `server`: the owner's word (CK.server). */
export function writeCheckpoint(area: CheckpointArea, slot: number, t: Tcb, server: number, clock: CheckpointClock): void {
  const copy = area.writeCopy(slot);
  const f = area.f64;
  const b = area.fieldBase(slot, copy);
  f[b + CK.state] = t.state;
  f[b + CK.localAddr] = t.localAddr;
  f[b + CK.localPort] = t.localPort;
  f[b + CK.remoteAddr] = t.remoteAddr;
  f[b + CK.remotePort] = t.remotePort;
  f[b + CK.listenerId] = t.listenerId;
  f[b + CK.flags] = (t.accepted ? CK_FLAG.accepted : 0) | (t.released ? CK_FLAG.released : 0)
    | (t.finQueued ? CK_FLAG.finQueued : 0) | (t.rcvFinKnown ? CK_FLAG.rcvFinKnown : 0)
    | (t.offeredWscale ? CK_FLAG.offeredWscale : 0) | (t.tsEnabled ? CK_FLAG.tsEnabled : 0)
    | (t.sackEnabled ? CK_FLAG.sackEnabled : 0) | (t.endReported ? CK_FLAG.endReported : 0)
    | (t.persisting ? CK_FLAG.persisting : 0) | (t.opts.noDelay ? CK_FLAG.noDelay : 0)
    | (t.inSynQueue ? CK_FLAG.inSynQueue : 0);
  f[b + CK.iss] = t.iss;
  f[b + CK.irs] = t.irs;
  f[b + CK.sndUna] = t.sndUna;
  f[b + CK.sndNxt] = t.sndNxt;
  f[b + CK.sndMax] = t.sndMax;
  f[b + CK.sndWnd] = t.sndWnd;
  f[b + CK.sndWl1] = t.sndWl1;
  f[b + CK.sndWl2] = t.sndWl2;
  f[b + CK.maxSndWnd] = t.maxSndWnd;
  f[b + CK.sndBufSeq] = t.sndBufSeq;
  f[b + CK.sendHead] = t.sendBuf.headCount();
  f[b + CK.finSeq] = t.finSeq;
  f[b + CK.sndMss] = t.sndMss;
  f[b + CK.advMss] = t.advMss;
  f[b + CK.rcvNxt] = t.rcvNxt;
  f[b + CK.rcvAdv] = t.rcvAdv;
  f[b + CK.rcvFinSeq] = t.rcvFinSeq;
  f[b + CK.lastAckSent] = t.lastAckSent;
  f[b + CK.recvTail] = t.recvBuf.tailCount();
  f[b + CK.sndWndScale] = t.sndWndScale;
  f[b + CK.rcvWndScale] = t.rcvWndScale;
  f[b + CK.tsRecent] = t.tsRecent;
  f[b + CK.tsRecentAge] = t.tsRecentAge;
  f[b + CK.tsNow] = tsNow(t, clock.now);
  f[b + CK.srtt] = t.rtt.srtt ?? -1;
  f[b + CK.rttvar] = t.rtt.rttvar;
  f[b + CK.rto] = t.rtt.rto;
  f[b + CK.cwnd] = t.cc.cwnd;
  f[b + CK.ssthresh] = t.cc.ssthresh;
  f[b + CK.rtoAt] = t.rtoAt;
  f[b + CK.delackAt] = t.delackAt;
  f[b + CK.keepaliveAt] = t.keepaliveAt;
  f[b + CK.closeAt] = t.closeAt;
  f[b + CK.keepAliveIdle] = t.opts.keepAliveIdle;
  f[b + CK.userTimeout] = t.opts.userTimeout;
  f[b + CK.lastProgress] = t.lastProgress;
  f[b + CK.lastRecv] = t.lastRecv;
  f[b + CK.retries] = t.retries;
  f[b + CK.persistBackoff] = t.persistBackoff;
  f[b + CK.now] = clock.now;
  f[b + CK.mono] = clock.mono;
  f[b + CK.server] = server;
  const n = Math.min(t.ooo.rangeCount, CK_MAX_RANGES);
  const u = area.u32;
  const r = area.rangeBase(slot, copy);
  for (let k = 0; k < n; k++) {
    const start = t.ooo.rangeStart(k);
    u[r + 2 * k] = start;
    u[r + 2 * k + 1] = t.ooo.rangeEnd(k) - start;
  }
  f[b + CK.rangeCount] = n;
  const sb = t.scoreboard;
  const m = t.sackEnabled ? Math.min(sb.sackedRangeCount, CK_MAX_SACKED) : 0;
  const q = area.sackedBase(slot, copy);
  for (let k = 0; k < m; k++) {
    const [start, end] = sb.sackedRange(k);
    u[q + 2 * k] = start;
    u[q + 2 * k + 1] = seqDiff(end, start);
  }
  f[b + CK.sackedCount] = m;
  area.commit(slot, copy);
}

/** The state and the owner's word of slot's checkpoint, or undefined when it has none. */
export function savedConnection(area: CheckpointArea, slot: number): { copy: number; state: TcpState; server: number } | undefined {
  const copy = area.committedCopy(slot);
  if (copy < 0) return undefined;
  const b = area.fieldBase(slot, copy);
  return { copy, state: area.f64[b + CK.state]! as TcpState, server: area.f64[b + CK.server]! };
}

/** States a successor resumes; the others (CLOSED, LISTEN) are not connections to resume. */
export function resumable(state: TcpState): boolean {
  return state >= TcpState.SynSent && state <= TcpState.TimeWait;
}

export interface RestoreContext {
  readonly clock: CheckpointClock;
  /** The app was told the peer's FIN (ServerFlag.PeerFin in the socket block). */
  readonly peerFinPublished: boolean;
  /** Maximum segment lifetime (ms), for a TIME-WAIT entered here. */
  readonly msl: number;
}

/**
 * Fill a fresh control block (on the slot's rings) from the slot's checkpoint
 * (TcpEngine.restore calls this). See the file comment for the rules.
 */
export function restoreTcb(t: Tcb, area: CheckpointArea, slot: number, copy: number, rc: RestoreContext): void {
  const f = area.f64;
  const b = area.fieldBase(slot, copy);
  const g = (k: number): number => f[b + k]!;
  const { now, mono } = rc.clock;
  // The predecessor's clock → ours: its `now` at the checkpoint was `elapsed` ms ago.
  const elapsed = Math.max(0, mono - g(CK.mono));
  const shift = now - elapsed - g(CK.now);
  const at = (x: number): number => (Number.isFinite(x) ? x + shift : x);
  const flags = g(CK.flags);
  const has = (bit: number): boolean => (flags & bit) !== 0;

  t.state = g(CK.state) as TcpState;
  t.localAddr = g(CK.localAddr) >>> 0;
  t.localPort = g(CK.localPort);
  t.remoteAddr = g(CK.remoteAddr) >>> 0;
  t.remotePort = g(CK.remotePort);
  t.listenerId = g(CK.listenerId);
  t.accepted = has(CK_FLAG.accepted);
  t.released = has(CK_FLAG.released);
  t.inSynQueue = has(CK_FLAG.inSynQueue);
  const o = t.opts as { noDelay: boolean; keepAliveIdle: number; userTimeout: number };
  o.noDelay = has(CK_FLAG.noDelay);
  o.keepAliveIdle = g(CK.keepAliveIdle);
  o.userTimeout = g(CK.userTimeout);

  // Options negotiated on the SYN exchange.
  t.offeredWscale = has(CK_FLAG.offeredWscale);
  t.sndWndScale = g(CK.sndWndScale);
  t.rcvWndScale = g(CK.rcvWndScale);
  t.tsEnabled = has(CK_FLAG.tsEnabled);
  t.sackEnabled = has(CK_FLAG.sackEnabled);
  t.sndMss = g(CK.sndMss);
  t.advMss = g(CK.advMss);
  t.cc.setMss(t.sndMss);
  t.cc.resumeSsthresh(g(CK.ssthresh));
  t.scoreboard.setMss(t.sndMss);

  // Send side: bytes acknowledged and freed after the checkpoint move SND.UNA on.
  const synchronized = t.state !== TcpState.SynSent && t.state !== TcpState.SynReceived;
  t.iss = g(CK.iss) >>> 0;
  const acked = t.sendBuf.countDistance(g(CK.sendHead), t.sendBuf.headCount());
  t.sndBufSeq = seqAdd(g(CK.sndBufSeq), acked);
  t.sndUna = synchronized ? seqMax(g(CK.sndUna), t.sndBufSeq) : g(CK.sndUna) >>> 0;
  t.sndMax = seqMax(g(CK.sndMax), t.sndUna);
  // Go back to SND.UNA: what the peer has not acknowledged is sent again, within the restart
  // window, but for what it SACKed (the scoreboard as saved; output skips SACKed ranges).
  t.sndNxt = synchronized ? t.sndUna : g(CK.sndNxt) >>> 0;
  if (synchronized && t.sackEnabled) {
    const q = area.sackedBase(slot, copy);
    const ranges: [number, number][] = [];
    for (let k = 0; k < g(CK.sackedCount); k++) {
      const start = area.u32[q + 2 * k]!;
      ranges.push([start, seqAdd(start, area.u32[q + 2 * k + 1]!)]);
    }
    t.scoreboard.restoreSacked(t.sndUna, t.sndMax, ranges);
  }
  t.sndWnd = g(CK.sndWnd);
  t.sndWl1 = g(CK.sndWl1) >>> 0;
  t.sndWl2 = g(CK.sndWl2) >>> 0;
  t.maxSndWnd = g(CK.maxSndWnd);
  t.finQueued = has(CK_FLAG.finQueued);
  t.finSeq = g(CK.finSeq) >>> 0;
  t.recover = t.sndUna;
  t.highRxt = t.sndUna;

  // Receive side: bytes the predecessor published into the ring after the checkpoint.
  t.irs = g(CK.irs) >>> 0;
  const arrived = t.recvBuf.countDistance(g(CK.recvTail), t.recvBuf.tailCount());
  t.rcvNxt = seqAdd(g(CK.rcvNxt), arrived);
  t.lastAckSent = arrived > 0 ? t.rcvNxt : g(CK.lastAckSent) >>> 0;
  // Out-of-order ranges, relative to the new RCV.NXT; a range now at or below it was
  // consumed by the predecessor (or is partial: received again).
  const u = area.u32;
  const r = area.rangeBase(slot, copy);
  const free = t.recvBuf.freeSpace();
  for (let k = 0; k < g(CK.rangeCount); k++) {
    const start = u[r + 2 * k]! - arrived;
    const len = u[r + 2 * k + 1]!;
    if (start > 0 && start + len <= free) t.ooo.add(start, len);
  }
  t.rcvFinSeq = g(CK.rcvFinSeq) >>> 0;
  t.rcvFinKnown = has(CK_FLAG.rcvFinKnown) && seqGt(t.rcvFinSeq, t.rcvNxt);
  t.endReported = has(CK_FLAG.endReported);
  // The window's right edge never moves left; the predecessor never offered past the ring's space.
  const maxWnd = Math.min(free, 65535 * 2 ** t.rcvWndScale);
  const edge = seqAdd(t.rcvNxt, Math.floor(maxWnd / 2 ** t.rcvWndScale) * 2 ** t.rcvWndScale);
  t.rcvAdv = seqDiff(g(CK.rcvAdv), t.rcvNxt) > 0 && seqDiff(g(CK.rcvAdv), edge) > 0 ? g(CK.rcvAdv) >>> 0 : edge;
  if (!synchronized && t.state === TcpState.SynSent) t.rcvAdv = g(CK.rcvAdv) >>> 0;

  // Timestamps: TS.Recent as saved; our clock continues past every TSval already sent.
  t.tsRecent = g(CK.tsRecent) >>> 0;
  t.tsRecentAge = at(g(CK.tsRecentAge));
  t.tsOffset = (g(CK.tsNow) + Math.ceil(elapsed) + 1 - Math.floor(now)) >>> 0;

  // RTT from the saved SRTT (RTO = SRTT + 4 * SRTT/2, at least the minimum); none saved: the initial RTO.
  const srtt = g(CK.srtt);
  if (srtt >= 0) t.rtt.sample(srtt);
  t.retries = 0;
  t.persistBackoff = 0;
  t.lastProgress = now;
  t.lastRecv = at(g(CK.lastRecv));

  // Timers: retransmission is armed by the resend; an ACK goes out at once.
  t.rtoAt = Infinity;
  t.delackAt = Infinity;
  t.keepaliveAt = at(g(CK.keepaliveAt));
  t.closeAt = at(g(CK.closeAt));
  t.ackNow = synchronized && t.state !== TcpState.TimeWait;

  if (rc.peerFinPublished && synchronized) applyPublishedFin(t, now, rc.msl);
}

/** The predecessor processed the peer's FIN (the app was told) after the checkpoint: RFC 9293 §3.10.7.4 "eighth". */
function applyPublishedFin(t: Tcb, now: number, msl: number): void {
  const s = t.state;
  if (s !== TcpState.Established && s !== TcpState.FinWait1 && s !== TcpState.FinWait2) return;
  t.rcvFinKnown = false;
  t.rcvNxt = seqAdd(t.rcvNxt, 1);
  t.endReported = true;
  t.ackNow = true;
  if (s === TcpState.Established) {
    t.state = TcpState.CloseWait;
  } else if (s === TcpState.FinWait1 && t.sndUna !== seqAdd(t.finSeq, 1)) {
    t.state = TcpState.Closing;
  } else {
    t.state = TcpState.TimeWait;
    t.closeAt = now + 2 * msl;
  }
}
