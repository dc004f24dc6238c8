/**
 * Pacing for rate-based congestion control (BBR: draft-cardwell-iccrg-bbr-
 * congestion-control-00 §4.2.1 "pacing rate"): data segments leave no faster
 * than the controller's pacing rate. Each transmission moves the next release
 * time on by len / rate; when output finds the release time in the future it
 * stops and arms the connection's pace timer (Tcb.paceAt, one of the deadlines
 * timers.ts serves), as Linux's internal pacing (tcp_pacing_check) does.
 * Bursts are bounded by the controller's send quantum (about 1 ms of data at
 * the pacing rate, at most 64 KiB), so TSO still sends whole bursts.
 */
import type { EngineContext } from './context.js';
import type { Tcb } from './tcb.js';

/** How late a pace timer may fire and still be made up for (ms); see paceSent. */
export const PACE_JITTER_MS = 0.5;

/**
 * May a data segment go now? If not, arms the pace timer and returns false.
 * Always true when the controller does not pace.
 */
export function paceAllows(ctx: EngineContext, t: Tcb, now: number): boolean {
  if (t.cc.pacingRate === undefined || t.paceNext <= now) return true;
  if (t.paceAt !== t.paceNext) {
    t.paceAt = t.paceNext;
    ctx.timersChanged(t);
  }
  return false;
}

/** The largest burst that may leave at once, given the usual burst limit (bytes). */
export function paceBurst(t: Tcb, burst: number): number {
  const q = t.cc.sendQuantum;
  if (t.cc.pacingRate === undefined || q === undefined) return burst;
  const mss = t.sndMss;
  return Math.max(mss, Math.min(burst, q - (q % mss)));
}

/** `len` bytes of data just left: the next may leave len / rate later. */
export function paceSent(t: Tcb, len: number, now: number): void {
  const rate = t.cc.pacingRate;
  if (rate === undefined || !(rate > 0)) return;
  // A pace timer fires late: the server loop parks in a futex whose timeout the
  // kernel stretches (50 µs of timer slack) and wakes on a busy core. Lateness
  // up to PACE_JITTER_MS (or one send quantum, if longer) is made up by sending
  // sooner, so the average rate is the pacing rate; idle time beyond it earns
  // nothing, so a long pause is not followed by a line-rate burst. With one
  // quantum only, one stream on the virtual switch reached ~60 % of BBR's rate.
  const slack = Math.max((t.cc.sendQuantum ?? t.sndMss) / rate, PACE_JITTER_MS);
  t.paceNext = Math.max(t.paceNext, now - slack) + len / rate;
}
