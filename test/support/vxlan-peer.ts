/**
 * A Linux kernel VXLAN tunnel endpoint (RFC 7348) for tests whose peer is the
 * kernel's vxlan device (root only): a veth underlay from the root namespace,
 * where a newtos UDP socket binds UNDER_ROOT:PORT, into a fresh namespace of
 * `rig` holding the kernel VTEP at UNDER_NS and its vxlan device:
 *
 *   newtos socket UNDER_ROOT:PORT ══ veth ══ UNDER_NS (ns) ─ vxlan VNI dev, overlay address
 */
import { randomInt } from 'node:crypto';
import type { Rig } from './netns.js';

export interface KernelVtep {
  /** The namespace holding the kernel's VTEP and vxlan device. */
  readonly ns: string;
  /** The vxlan device's name (inside `ns`). */
  readonly vx: string;
  /** Underlay address in the root namespace (where the newtos socket binds). */
  readonly underRoot: string;
  /** Underlay address of the kernel VTEP (in `ns`). */
  readonly underNs: string;
  /** The UDP port both ends use. */
  readonly port: number;
}

/**
 * The kernel VTEP for VNI `vni` with `overlayCidr` on its vxlan device; the
 * underlay is 10.203.S.0/24 with S random per call, the UDP port too.
 */
export async function kernelVtep(rig: Rig, vni: number, overlayCidr: string): Promise<KernelVtep> {
  const sub = randomInt(1, 251);
  const underRoot = `10.203.${sub}.1`;
  const underNs = `10.203.${sub}.2`;
  const ns = await rig.netns();
  const veth = await rig.veth(undefined, ns);
  await rig.addr(undefined, veth.a, `${underRoot}/24`);
  await rig.up(undefined, veth.a);
  await rig.addr(ns, veth.b, `${underNs}/24`);
  await rig.up(ns, veth.b);
  const port = randomInt(20000, 40000);
  const vx = rig.linkName('vx');
  await rig.ip(ns, 'link', 'add', vx, 'type', 'vxlan', 'id', String(vni), 'remote', underRoot, 'local', underNs,
    'dstport', String(port), 'dev', veth.b);
  await rig.addr(ns, vx, overlayCidr);
  await rig.up(ns, vx);
  return { ns, vx, underRoot, underNs, port };
}
