/**
 * Opens the NIC backend an interface's configuration names (src/config):
 * what the driver server calls at start and after a restart ("link
 * re-attached"). Virtual-switch ports are in-process objects, so the caller
 * passes a resolver for them.
 *
 * Stream links: the configuration has `local` and `remote` but no direction.
 * A remote port of 0 means "listen on local" (QEMU connects to us); otherwise
 * newtos connects to remote (QEMU was started with `-netdev socket,listen=...`).
 */
import { NewtosError } from '../../errors.js';
import type { InterfaceConfig } from '../../config/stack-config.js';
import { parseMac, type NicBackend } from './backend.js';
import { BridgeLink } from './io-bridge.js';
import { StreamLink } from './stream-link.js';
import { TapBackend } from './tap.js';
import { UdpLink, VxlanLink } from './udp-link.js';

export interface OpenNicDeps {
  /** Returns a port on the named in-process virtual switch. */
  readonly vswitchPort?: (switchName: string, ifc: InterfaceConfig) => NicBackend;
  /**
   * The caller's thread doorbell, when the caller's event loop does not run
   * (the driver server): socket-based links (UDP, VXLAN, stream) are then
   * opened behind an I/O bridge thread that rings it (io-bridge.ts), and a
   * TAP device gets a waker thread that rings it (tap-waker.ts).
   */
  readonly doorbell?: SharedArrayBuffer;
  /**
   * An fd of this interface's TAP device that the application thread opened and
   * keeps (TapBackend.adopt): used instead of opening the device, so a restarted
   * driver takes over the same device.
   */
  readonly tapFd?: number;
  /**
   * The caller's thread may sleep beside a device (`sleep`: ServerContext.sleepBeside) with the
   * eventfd `eventFd`: the first TAP device then wakes the thread itself, with no waker thread
   * between (a frame on an idle host costs one thread wake-up instead of two). Other TAP devices
   * of the thread get a waker.
   */
  readonly sleepBeside?: {
    readonly eventFd: number;
    readonly sleep: (wait: (timeoutMs: number) => boolean, eventFd: number) => boolean;
  };
}

export async function openNicBackend(ifc: InterfaceConfig, deps: OpenNicDeps = {}): Promise<NicBackend> {
  const mac = ifc.mac === undefined ? undefined : parseMac(ifc.mac);
  if (ifc.mac !== undefined && mac === undefined) {
    throw new NewtosError('ERR_INVALID_ARG_VALUE', `interface ${ifc.name}: bad MAC '${ifc.mac}'`);
  }
  const common = { ...(mac === undefined ? {} : { mac }), ...(ifc.mtu === undefined ? {} : { mtu: ifc.mtu }) };
  const link = ifc.link;
  switch (link.type) {
    case 'tap': {
      const tap = deps.tapFd !== undefined
        ? TapBackend.adopt({ fd: deps.tapFd, name: link.device, vnetHdr: link.vnetHeader !== false, ...common })
        : TapBackend.open({ name: link.device, vnetHdr: link.vnetHeader !== false, ...common });
      // NEWTOS_TAP_WAKER=0: no waker, the device is polled (to measure what the waker gives);
      // =1: a waker even where the thread could sleep beside the device (to measure that).
      const env = process.env['NEWTOS_TAP_WAKER'];
      if (deps.sleepBeside !== undefined && env !== '0' && env !== '1' && tap.sleepBeside(deps.sleepBeside.sleep, deps.sleepBeside.eventFd)) return tap;
      if (deps.doorbell !== undefined && env !== '0') {
        try {
          await tap.startWaker(deps.doorbell, { wait: false });
        } catch {
          // No waker thread: the device still works, the owner polls it.
        }
      }
      return tap;
    }
    case 'udp': {
      if (deps.doorbell !== undefined) return BridgeLink.open(ifc, deps.doorbell);
      const local = { address: link.local.host, port: link.local.port };
      const remote = { address: link.remote.host, port: link.remote.port };
      if (link.mode === 'dgram') return UdpLink.open({ local, remote, ...common });
      if (link.mode === 'vxlan') {
        if (link.vni === undefined) throw new NewtosError('ERR_INVALID_ARG_VALUE', `interface ${ifc.name}: vxlan needs a vni`);
        return VxlanLink.open({ local, remote, vni: link.vni, ...common });
      }
      return remote.port === 0
        ? StreamLink.open({ mode: 'listen', host: local.address, port: local.port, ...common })
        : StreamLink.open({ mode: 'connect', host: remote.address, port: remote.port, ...common });
    }
    case 'vswitch':
      if (deps.vswitchPort === undefined) {
        throw new NewtosError('ERR_VSWITCH_UNAVAILABLE', `interface ${ifc.name}: no virtual switch resolver given`);
      }
      return deps.vswitchPort(link.switch, ifc);
    case 'frames':
      // The program's frame link is a private two-port switch in shared memory: the driver
      // holds port 0, the application thread port 1 (src/app/frame-link.ts).
      if (deps.vswitchPort === undefined) {
        throw new NewtosError('ERR_VSWITCH_UNAVAILABLE', `interface ${ifc.name}: no frame-link resolver given`);
      }
      return deps.vswitchPort(`frames:${ifc.name}`, ifc);
  }
}
