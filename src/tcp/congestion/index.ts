/**
 * Pluggable congestion control: the interface and the factory. CUBIC (RFC 9438)
 * is the default, NewReno (RFC 5681/6582/3465) the alternative.
 */
import type { CongestionControl, CongestionControlName, CongestionControlOptions } from './congestion-control.js';
import { Cubic } from './cubic.js';
import { NewReno } from './newreno.js';

export type { CongestionControl, CongestionControlName, CongestionControlOptions } from './congestion-control.js';
export { initialWindowBytes } from './congestion-control.js';
export { Cubic, CUBIC_ALPHA, CUBIC_BETA, CUBIC_C, type CubicOptions } from './cubic.js';
export { NewReno } from './newreno.js';

export function createCongestionControl(
  name: CongestionControlName, options: CongestionControlOptions,
): CongestionControl {
  switch (name) {
    case 'cubic': return new Cubic(options);
    case 'newreno': return new NewReno(options);
    default: throw new RangeError(`unknown congestion control '${String(name)}'`);
  }
}
