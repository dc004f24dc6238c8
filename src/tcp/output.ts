/**
 * Sending (gVisor snd.go): building segments into allocator buffers, deciding
 * what data may go now (send window, congestion window, Nagle, sender-side SWS
 * avoidance), the window we advertise (receiver-side SWS avoidance), pure ACKs,
 * RSTs, SYNs.
 *
 * Read first: RFC 9293 §3.8.6 (window management, SWS both sides, Nagle in
 * §3.7.4), RFC 7323 §3 and §4 (window scale, timestamps on every segment),
 * RFC 2018 §4 (SACK blocks in ACKs).
 *
 * Hot path: one allocator buffer per segment, header fields written from a
 * scratch object, payload copied straight from the send ring into the buffer.
 */
import { TcpFlag, emitTcpHeader, sackOptionLen, tcpHeaderLenFor, writeTcpChecksum } from '../wire/tcp.js';
import type { EngineContext } from './context.js';
import { seqDiff, seqGt, seqLt } from './seqnum.js';
import { DUP_THRESH, logRetransmit, pipeBytes, nextLostHole, prrSent, recoveryCwnd, sackedBelow, sackedEndAt } from './recovery.js';
import { TcpState } from './state.js';
import type { Tcb } from './tcb.js';
import { rateOnOutputStopped, rateOnSend } from './delivery.js';
import { paceAllows, paceBurst, paceSent } from './pacing.js';
import { armPto } from './tlp.js';
import { rackOnSend } from './rack.js';

/** Our timestamp clock: milliseconds plus a per-connection offset (RFC 7323 §5.4). */
export function tsNow(t: Tcb, now: number): number {
  return (Math.floor(now) + t.tsOffset) >>> 0;
}

/**
 * The window to advertise, updating RCV.ADV. RFC 9293 §3.8.6.2.2 (receiver
 * SWS avoidance): the right edge only moves when it can move by at least
 * min(RCV.BUFF / 2, Eff.snd.MSS); RFC 9293 §3.8.6: the window is never shrunk.
 */
export function advertiseWindow(t: Tcb): number {
  const free = t.recvBuf.freeSpace();
  const maxWnd = Math.min(free, 65535 * 2 ** t.rcvWndScale);
  const cur = Math.max(0, seqDiff(t.rcvAdv, t.rcvNxt));
  if (maxWnd > cur) {
    const threshold = Math.min(t.recvBuf.capacity >>> 1, t.advMss);
    if (maxWnd - cur >= threshold || cur === 0 && maxWnd >= threshold) {
      // Round down to what the scaled field can express (never promise more than free).
      const field = Math.floor(maxWnd / 2 ** t.rcvWndScale);
      t.rcvAdv = (t.rcvNxt + field * 2 ** t.rcvWndScale) >>> 0;
    }
  }
  return Math.floor(Math.max(0, seqDiff(t.rcvAdv, t.rcvNxt)) / 2 ** t.rcvWndScale);
}

/**
 * Build and transmit one segment of connection t: flags, sequence number,
 * `len` payload bytes taken from the send ring at `seq` (0 for none).
 * Returns false when no buffer could be allocated (back-pressure).
 */
export function sendSegment(ctx: EngineContext, t: Tcb, flags: number, seq: number, len: number, now: number): boolean {
  const h = ctx.hdr;
  const syn = (flags & TcpFlag.SYN) !== 0;
  h.srcPort = t.localPort;
  h.dstPort = t.remotePort;
  h.seq = seq;
  h.ack = (flags & TcpFlag.ACK) !== 0 ? t.rcvNxt : 0;
  h.flags = flags;
  h.urgent = 0;
  if (syn) {
    // RFC 7323 §2.2: the window field of a SYN is never scaled.
    const free = t.recvBuf.freeSpace();
    h.window = Math.min(free, 65535);
    t.rcvAdv = (t.rcvNxt + h.window) >>> 0;
    h.mss = t.advMss;
    const synAck = (flags & TcpFlag.ACK) !== 0;
    // On a SYN-ACK only echo what the peer offered (RFC 7323 §2.2, §3.2; RFC 2018 §2).
    h.windowScale = (synAck ? t.offeredWscale : t.opts.windowScaling) ? t.rcvWndScale : -1;
    h.sackPermitted = synAck ? t.sackEnabled : t.opts.sack;
    h.hasTimestamp = synAck ? t.tsEnabled : t.opts.timestamps;
  } else {
    h.window = (flags & TcpFlag.RST) !== 0 && (flags & TcpFlag.ACK) === 0 ? 0 : advertiseWindow(t);
    h.mss = -1;
    h.windowScale = -1;
    h.sackPermitted = false;
    h.hasTimestamp = t.tsEnabled;
  }
  h.tsVal = tsNow(t, now);
  h.tsEcr = h.hasTimestamp && (flags & TcpFlag.ACK) !== 0 ? t.tsRecent : 0;
  h.sackCount = 0;
  const dsack = t.dsackPending && !syn && (flags & TcpFlag.ACK) !== 0;
  if (t.sackEnabled && !syn && (flags & TcpFlag.ACK) !== 0 && (dsack || !t.ooo.isEmpty())) {
    const flat = t.sackOut;
    let n = 0;
    if (dsack) {
      // RFC 2883 §4: the D-SACK block first, then the usual blocks (RFC 2018 §4).
      flat[0] = t.dsackStart;
      flat[1] = t.dsackEnd;
      n = 1;
    }
    // RFC 2018 §4: most recently received block first (Assembler orders by recency).
    const blocks = t.ooo.isEmpty() ? [] : t.ooo.sackBlocks(t.rcvNxt, 4 - n);
    for (let i = 0; i < blocks.length; i++, n++) {
      flat[2 * n] = blocks[i]!.start;
      flat[2 * n + 1] = blocks[i]!.end;
    }
    h.sack = flat;
    h.sackCount = n;
  }
  const hl = tcpHeaderLenFor(h);
  const total = hl + len;
  // Start the buffer so the payload lies at the same address residue as in the send ring (fast copy).
  const buf = ctx.allocator.alloc(total, len > 0 ? (t.sendBuf.alignmentAt(seqDiff(seq, t.sndBufSeq)) - hl) & 7 : 0);
  if (buf === undefined) {
    ctx.counters.allocFailures++;
    ctx.outputBlocked(t);
    return false;
  }
  emitTcpHeader(h, buf);
  if (len > 0) {
    t.sendBuf.copyOut(seqDiff(seq, t.sndBufSeq), buf, hl, len);
    if (t.rate !== undefined) rateOnSend(t, seq, len, now);
    rackOnSend(t, seq, len, now);
  }
  // RFC 9293 §3.7.1: the options a segment carries come out of its data. SND.MSS leaves room
  // for the timestamps only; SACK blocks (12-28 bytes) must come out of the data as well, or a
  // full segment that carries them exceeds the MTU: with DF set it is never delivered, and a
  // receiver holding out-of-order data while it sends (a two-way transfer after a loss) resent
  // it until its connection timed out. Such a segment goes as a burst cut at the smaller size
  // (Linux's tcp_current_mss subtracts the SACK option the same way).
  const segMax = t.sndMss - sackOptionLen(h, h.sackCount);
  // A TSO burst leaves its checksum to whoever cuts it into MSS-sized segments.
  const gsoMss = len > segMax ? segMax : 0;
  if (!ctx.config.checksumOffload && gsoMss === 0) writeTcpChecksum(buf, t.localAddr, t.remoteAddr);
  if ((flags & TcpFlag.ACK) !== 0) {
    if (dsack) {
      // Reported once (RFC 2883 §4: a D-SACK block is not repeated in later ACKs).
      t.dsackPending = false;
      ctx.counters.dsacksSent++;
    }
    t.lastAckSent = t.rcvNxt;
    t.ackPending = 0;
    t.ackNow = false;
    if (t.delackAt !== Infinity) t.delackAt = Infinity;
  }
  // A TSO burst counts as the segments it will be cut into (as retransmits and Linux's OutSegs do).
  ctx.counters.segmentsOut += gsoMss > 0 ? Math.ceil(len / gsoMss) : 1;
  ctx.transmit(t.localAddr, t.remoteAddr, buf, gsoMss);
  return true;
}

/** SYN (active open) or SYN-ACK (passive / simultaneous open), from ISS. */
export function sendSyn(ctx: EngineContext, t: Tcb, now: number): boolean {
  const flags = t.state === TcpState.SynSent ? TcpFlag.SYN : TcpFlag.SYN | TcpFlag.ACK;
  return sendSegment(ctx, t, flags, t.iss, 0, now);
}

/**
 * The sequence number a segment without data, SYN or FIN carries: SND.MAX, not SND.NXT.
 * After a retransmission timeout SND.NXT is pulled back to SND.UNA; a peer that already
 * holds everything up to SND.MAX finds SND.NXT below its RCV.NXT, and drops the segment
 * as out of window without reading its ACK (RFC 9293 §3.10.7.4). When both ends time out
 * at once (a restarted server held both directions for longer than the RTO), each drops
 * the other's ACKs and the connection never moves again. BSD sends pure ACKs from
 * snd_max for this reason; Linux never pulls snd_nxt back. Clipped to the right edge of
 * the peer's window (Linux's tcp_acceptable_seq) in case the peer shrank it.
 */
export function acceptableSeq(t: Tcb): number {
  if (!seqGt(t.sndMax, t.sndNxt)) return t.sndNxt;
  const edge = (t.sndUna + t.sndWnd) >>> 0;
  if (!seqGt(t.sndMax, edge)) return t.sndMax;
  return seqGt(edge, t.sndNxt) ? edge : t.sndNxt;
}

export function sendAck(ctx: EngineContext, t: Tcb, now: number): boolean {
  return sendSegment(ctx, t, TcpFlag.ACK, acceptableSeq(t), 0, now);
}

/** RFC 5961 challenge ACK, subject to the engine-wide rate limit (§7). */
export function sendChallengeAck(ctx: EngineContext, t: Tcb, now: number): void {
  if (ctx.challengeAckAllowed(now)) {
    ctx.counters.challengeAcks++;
    sendAck(ctx, t, now);
  } else {
    ctx.counters.challengeAcksSuppressed++;
  }
}

/** States in which data and FIN may be (re)transmitted. */
function canSend(s: number): boolean {
  return s === TcpState.Established || s === TcpState.CloseWait || s === TcpState.FinWait1
    || s === TcpState.Closing || s === TcpState.LastAck;
}

/**
 * Send whatever the windows and the application allow, then a pending ACK if
 * no segment carried it. Called after every input, application call and timer.
 */
export function output(ctx: EngineContext, t: Tcb, now: number): void {
  if (canSend(t.state)) {
    const max0 = t.sndMax;
    sendData(ctx, t, now);
    // New data left: the tail loss probe's clock starts (or restarts) from it.
    if (t.sndMax !== max0) armPto(ctx, t, now);
  }
  if (t.ackNow && t.state !== TcpState.Closed && t.state !== TcpState.SynSent && t.state !== TcpState.Listen) {
    sendAck(ctx, t, now);
  }
}

/**
 * SND.MSS less the SACK option the next data segment will carry (sendSegment cuts a segment
 * that would exceed it; sizing segments by it here avoids a short piece after each cut). A
 * guess of more blocks than sendSegment puts in only makes segments a little smaller.
 */
function dataRoom(t: Tcb): number {
  if (!t.sackEnabled || (!t.dsackPending && t.ooo.isEmpty())) return t.sndMss;
  return t.sndMss - sackOptionLen(t.tsEnabled ? DATA_OPTIONS_TS : DATA_OPTIONS, (t.dsackPending ? 1 : 0) + t.ooo.rangeCount);
}

/** The options beside SACK on a data segment (no MSS or window scale), with and without timestamps. */
const DATA_OPTIONS = { mss: -1, windowScale: -1, sackPermitted: false, hasTimestamp: false } as const;
const DATA_OPTIONS_TS = { ...DATA_OPTIONS, hasTimestamp: true } as const;

function sendData(ctx: EngineContext, t: Tcb, now: number): void {
  const mss = dataRoom(t);
  // TSO: up to tsoMaxBytes of new data in one buffer (a whole number of MSS).
  const burst = paceBurst(t, ctx.config.tsoMaxBytes > mss ? ctx.config.tsoMaxBytes - (ctx.config.tsoMaxBytes % mss) : mss);
  // RFC 6675 §5 (3)/(4): while in recovery, NextSeg: lost holes first (rule 1), then
  // new data (rule 2, the loop below), then holes not yet deemed lost (rule 3).
  if (t.inRecovery && t.sackEnabled) {
    for (;;) {
      if (recoveryCwnd(t) - pipeBytes(t) < mss) return;
      let hole = nextLostHole(t, false);
      if (hole < 0) {
        const unsent = seqDiff((t.sndBufSeq + t.sendBuf.available()) >>> 0, t.sndNxt) > 0;
        if (unsent && seqDiff((t.sndUna + t.sndWnd) >>> 0, t.sndNxt) > 0) break;
        // Rule (3) resends holes not deemed lost: on a path seen to reorder they are most
        // likely late, not lost (Linux resends only what its loss detection marked).
        if (t.reordering <= DUP_THRESH) hole = nextLostHole(t, true);
      }
      if (hole < 0) break;
      const len = Math.min(mss, t.holeLen);
      if (!paceAllows(ctx, t, now)) return;
      if (!sendSegment(ctx, t, TcpFlag.ACK, hole, len, now)) return;
      paceSent(t, len, now);
      markRetransmit(ctx, t, now, len);
      prrSent(t, len);
      t.scoreboard.markRetransmitted(hole, len);
      logRetransmit(t, hole, len, now);
      t.highRxt = (hole + len) >>> 0;
      t.rttTime = -1; // Karn
      armRto(ctx, t, now);
    }
  }
  for (;;) {
    let seq = t.sndNxt;
    // After an RTO, SND.NXT walks back over data the receiver already SACKed (RFC 6675 §5.1).
    if (seqLt(seq, t.sndMax) && t.sackEnabled && t.scoreboard.sackedBytes > 0) {
      const end = sackedEndAt(t, seq);
      if (end !== seq) {
        t.sndNxt = seq = end;
        continue;
      }
    }
    const queued = t.sendBuf.available();
    const dataEnd = (t.sndBufSeq + queued) >>> 0;
    const avail = Math.max(0, seqDiff(dataEnd, seq));
    const flight = t.inRecovery ? pipeBytes(t) : seqDiff(seq, t.sndUna) - (t.sackEnabled && t.scoreboard.sackedBytes > 0 ? sackedBelow(t, seq) : 0);
    const wndRoom = seqDiff((t.sndUna + t.sndWnd) >>> 0, seq);
    // RFC 3042 limited transmit: the first two duplicate ACKs each allow one new segment.
    if (flight === 0 && avail > 0) t.cc.onIdle(now, t.rtt.rto);
    const cwnd = t.inRecovery ? recoveryCwnd(t) : t.cc.cwnd + Math.min(t.dupAcks, 2) * mss;
    const cwndRoom = cwnd - flight;
    let len = Math.min(avail, burst, wndRoom, cwndRoom);
    // Going back after an RTO: stop at the next SACKed octet (RFC 6675 §5.1: SACKed data is not resent).
    let sackCut = false;
    if (seqLt(seq, t.sndMax) && t.sackEnabled && t.scoreboard.sackedBytes > 0) {
      const d = t.scoreboard.distanceToSacked(seq);
      if (d < len) { len = d; sackCut = true; }
    }
    if (len < 0) len = 0;
    // A TSO burst is whole segments; the tail below one MSS goes through the rules below.
    if (len > mss && len < avail && !sackCut) len -= len % mss;
    // The FIN goes with (or right after) the last byte of queued data, also when resent after an RTO.
    const fin = t.finQueued && ((seq + len) >>> 0) === t.finSeq;
    if (len === 0 && !fin) break;
    if (len < avail) {
      // Not everything queued fits: only full segments, except a window-limited
      // piece of at least half the peer's largest window (RFC 9293 §3.8.6.2.1).
      // (A piece resent up to SACKed data is no new small segment: it goes.)
      if (len < mss && !sackCut && !(len === wndRoom && len >= t.maxSndWnd >>> 1 && len > 0)) break;
    } else if (len < mss && len > 0 && !fin && !t.opts.noDelay && flight > 0 && seqGe(seq, t.sndMax)) {
      // Nagle (RFC 9293 §3.7.4): a short segment waits while data is unacknowledged.
      break;
    }
    let flags = TcpFlag.ACK;
    if (fin) flags |= TcpFlag.FIN;
    if (len > 0 && len === avail) flags |= TcpFlag.PSH;
    if (len > 0 && !paceAllows(ctx, t, now)) return;
    if (!sendSegment(ctx, t, flags, seq, len, now)) return;
    paceSent(t, len, now);
    prrSent(t, len);
    const end = (seq + len + (fin ? 1 : 0)) >>> 0;
    if (seqLt(seq, t.sndMax)) {
      markRetransmit(ctx, t, now, Math.min(len, seqDiff(t.sndMax, seq)));
      t.rttTime = -1; // Karn: never time a retransmitted segment
    } else if (t.rttTime < 0 && !t.tsEnabled) {
      t.rttSeq = end;
      t.rttTime = now;
    }
    t.sndNxt = end;
    if (seqGt(end, t.sndMax)) t.sndMax = end;
    armRto(ctx, t, now);
  }
  if (t.rate !== undefined) rateOnOutputStopped(t);
  // A window too small to send into (zero, or below a segment while sender SWS
  // avoidance holds the data back) with data waiting and nothing in flight: no ACK
  // will come to open it, so the persist timer probes (RFC 9293 §3.8.6.1; RFC 1122
  // §4.2.3.4's override timeout, as Linux's probe timer does).
  const waiting = t.sendBuf.available() - seqDiff(t.sndNxt, t.sndBufSeq);
  if (t.sndNxt === t.sndUna && t.rtoAt === Infinity
      && ((waiting > 0 && t.sndWnd < Math.min(waiting, t.sndMss)) || (t.sndWnd === 0 && t.finQueued && !seqGt(t.sndMax, t.finSeq)))) {
    t.persisting = true;
    t.rtoAt = now + t.rtt.rto;
    ctx.timersChanged(t);
  }
}

function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** Count a retransmission and remember when it happened (timestamp Karn rule, recovery.ts). */
export function markRetransmit(ctx: EngineContext, t: Tcb, now: number, len = 0): void {
  // Counted in segments: a TSO burst resent after an RTO is several (and undo needs a D-SACK for each).
  const segs = Math.max(1, Math.ceil(len / t.sndMss));
  ctx.counters.retransmits += segs;
  if (t.undoActive) t.undoRetrans += segs;
  t.hasRetransmitted = true;
  t.rtxTsVal = tsNow(t, now);
}

/** RFC 6298 §5.1: start the timer when a segment is sent and it is not running. */
export function armRto(ctx: EngineContext, t: Tcb, now: number): void {
  if (t.rtoAt === Infinity || t.persisting) {
    t.persisting = false;
    t.rtoAt = now + t.rtt.rto;
    ctx.timersChanged(t);
  }
}
