/**
 * Option negotiation on the SYN exchange: MSS (RFC 9293 §3.7.1), window scale
 * and timestamps (RFC 7323 §2.2, §3.2), SACK-permitted (RFC 2018 §2).
 */
import type { TcpSegment } from '../wire/tcp.js';
import type { Tcb } from './tcb.js';

/** RFC 9293 §3.7.1: "If an MSS Option is not received at connection setup, TCP implementations MUST assume a default send MSS of 536". */
export const DEFAULT_MSS = 536;
/** RFC 7323 §2.3: shift counts above 14 are treated as 14. */
export const MAX_WSCALE = 14;
/** Bytes the timestamps option takes in every segment (NOP NOP TS). */
export const TS_OPTION_LEN = 12;

/** The smallest shift that lets the whole receive buffer be advertised. */
export function windowScaleFor(bufferSize: number): number {
  let s = 0;
  while (s < MAX_WSCALE && bufferSize > 65535 * 2 ** s) s++;
  return s;
}

/**
 * Apply the peer's SYN (passive open: `ourSyn` = our configured offers) or
 * SYN-ACK (active open: options we offered in our SYN, which the peer may only
 * echo). Sets the negotiated options and the effective send MSS.
 */
export function negotiateOptions(t: Tcb, seg: TcpSegment): void {
  const o = t.opts;
  t.offeredWscale = seg.windowScale >= 0 && o.windowScaling;
  if (t.offeredWscale) {
    t.sndWndScale = Math.min(seg.windowScale, MAX_WSCALE);
    t.rcvWndScale = windowScaleFor(o.recvBufferSize);
  } else {
    t.sndWndScale = 0;
    t.rcvWndScale = 0;
  }
  t.sackEnabled = seg.sackPermitted && o.sack;
  t.tsEnabled = seg.hasTimestamp && o.timestamps;
  if (t.tsEnabled) t.tsRecent = seg.tsVal;
  const peerMss = seg.mss >= 0 ? seg.mss : DEFAULT_MSS;
  // RFC 9293 §3.7.1: Eff.snd.MSS = min(SendMSS+20, MMS_S) - TCPhdrsize - IPoptionsize,
  // with the timestamp option counted in TCPhdrsize (as Linux does).
  let mss = Math.min(peerMss, o.mss);
  if (t.tsEnabled) mss -= TS_OPTION_LEN;
  t.sndMss = Math.max(mss, 64);
}
