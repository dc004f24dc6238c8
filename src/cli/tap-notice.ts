/**
 * What `newtos up --tap NAME` and `newtos ping --tap NAME` tell the user about
 * the kernel's side of the device. Opening a name that does not exist creates
 * the device (as QEMU's `-netdev tap,ifname=` does), but that device is down,
 * has no address and goes away when newtos exits, so the Linux side cannot
 * reach the newtos host until someone configures it: newtos says so, with the
 * commands. A device that existed but is down gets the one command it needs.
 * newtos does not configure the kernel's side itself: addresses and routes on
 * the Linux side are the administrator's (and `ip` may not even be installed).
 */
import { readFileSync } from 'node:fs';
import type { Ipv4Prefix } from '../config/stack-config.js';
import { formatIpv4Address, prefixMask } from '../wire/ipv4-address.js';

export type TapState = 'absent' | 'down' | 'up';

/** IFF_UP in /sys/class/net/NAME/flags (linux/if.h). */
const IFF_UP = 0x1;

/** The kernel's view of the device before newtos opens it. */
export function tapStateBefore(name: string): TapState {
  let text: string;
  try {
    text = readFileSync(`/sys/class/net/${name}/flags`, 'utf8');
  } catch {
    return 'absent';
  }
  return (Number(text.trim()) & IFF_UP) !== 0 ? 'up' : 'down';
}

/** An address of `ours`'s subnet for the kernel's side: the first host address that is not ours. */
function kernelSideAddress(ours: Ipv4Prefix): string {
  if (ours.prefixLength >= 31) return `ADDRESS/${ours.prefixLength}`;
  const network = (ours.address & prefixMask(ours.prefixLength)) >>> 0;
  const first = network + 1 === ours.address ? network + 2 : network + 1;
  return `${formatIpv4Address(first)}/${ours.prefixLength}`;
}

/** The note for the user after the host came up on the device, or undefined when the device was already up. */
export function tapNotice(name: string, before: TapState, ours: Ipv4Prefix): string | undefined {
  const host = formatIpv4Address(ours.address);
  if (before === 'absent') {
    return `created TAP device ${name}; it is down with no address and goes away when newtos exits. ` +
      `For Linux to reach ${host}, run: ip addr add ${kernelSideAddress(ours)} dev ${name} && ip link set ${name} up ` +
      `(or create it beforehand: ip tuntap add dev ${name} mode tap)`;
  }
  if (before === 'down') return `TAP device ${name} is down; for Linux to reach ${host}, run: ip link set ${name} up`;
  return undefined;
}
