/**
 * The public face of the in-process virtual switch: createVswitch(options)
 * makes the shared memory of a switch and returns a handle that createStack
 * takes as it is (`{ switches: { sw0: handle } }`), handing out its ports in
 * order as hosts attach. The raw descriptor (plain data, for a worker) stays
 * reachable as `handle.descriptor`.
 */
import { createVswitch as createVswitchMemory, type VswitchDescriptor, type VswitchOptions } from '../driver/nic/vswitch.js';
import type { SwitchAttachment } from './host.js';

export class Vswitch implements SwitchAttachment {
  /** The next port a host attaching to this switch gets. */
  nextPort = 0;
  constructor(readonly descriptor: VswitchDescriptor) {}
  /** Number of ports (hosts that can attach). */
  get ports(): number { return this.descriptor.ports; }
  /** IP MTU of the segment. */
  get mtu(): number { return this.descriptor.mtu; }
  /** Ports not yet given to a host. */
  get freePorts(): number { return this.descriptor.ports - this.nextPort; }
}

/** A virtual switch with `options.ports` ports (2..64) in shared memory; needs no privileges. */
export function createVswitch(options: VswitchOptions): Vswitch {
  return new Vswitch(createVswitchMemory(options));
}
