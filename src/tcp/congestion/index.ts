/**
 * Pluggable congestion control: the interface and the factory. CUBIC (RFC 9438)
 * is the default; NewReno (RFC 5681/6582/3465) and BBR v1
 * (draft-cardwell-iccrg-bbr-congestion-control-00) the alternatives.
 */
import type { CongestionControl, CongestionControlName, CongestionControlOptions } from './congestion-control.js';
import { Cubic } from './cubic.js';
import { NewReno } from './newreno.js';
import { Bbr, type BbrOptions } from './bbr.js';

export type { CongestionControl, CongestionControlName, CongestionControlOptions } from './congestion-control.js';
export { initialWindowBytes } from './congestion-control.js';
export { Cubic, CUBIC_ALPHA, CUBIC_BETA, CUBIC_C, type CubicOptions } from './cubic.js';
export { NewReno } from './newreno.js';
export { Bbr, BBR_EXTRA_ACKED_MAX_MS, BBR_GAIN_CYCLE, BBR_HIGH_GAIN, BBR_PROBE_RTT_MS, BBR_RTPROP_FILTER_MS, type BbrOptions, type BbrState } from './bbr.js';
export { DeliveryRateEstimator, type RateSample, type SackedFn } from './delivery-rate.js';

/** The names createCongestionControl knows (configuration checks list them). */
export const CONGESTION_CONTROL_NAMES: readonly CongestionControlName[] = ['cubic', 'newreno', 'bbr'];

export function createCongestionControl(
  name: CongestionControlName, options: CongestionControlOptions | BbrOptions,
): CongestionControl {
  switch (name) {
    case 'cubic': return new Cubic(options);
    case 'newreno': return new NewReno(options);
    case 'bbr': return new Bbr(options);
    default: throw new RangeError(`unknown congestion control '${String(name)}'`);
  }
}
