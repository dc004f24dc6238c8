/**
 * The flags that describe one host on the command line, shared by `newtos up`
 * and `newtos ping`: its link (a TAP device, or Ethernet frames over UDP in
 * QEMU's or VXLAN's format), its address, gateway, MTU and placement. They
 * become a configuration object that createStack validates like any other
 * (a bad address or endpoint is refused there, with its field).
 *
 *   --tap DEV                                  a TAP device (root, the addon)
 *   --udp HOST:PORT --remote HOST:PORT         Ethernet over UDP, no privileges:
 *        [--mode dgram|stream|vxlan] [--vni N]   QEMU -netdev dgram (default);
 *                                                QEMU -netdev stream, over TCP: listens
 *                                                on --udp's address when --remote's port
 *                                                is 0, else connects to --remote; or
 *                                                VXLAN with network identifier --vni
 *   --offload on|off                           a TAP's virtio-net offloads (default on):
 *                                                off opens the device without a virtio-net
 *                                                header, so every frame the kernel sees is
 *                                                at most the MTU and fully checksummed (what
 *                                                tcpdump on the device then shows is what a
 *                                                wire would carry); links over UDP never
 *                                                offload, so only off is accepted there
 *   --dns A.B.C.D[:PORT]                       a DNS resolver (repeatable): names resolve
 *                                                over the host's own UDP
 *   --cc cubic|newreno|bbr                     TCP congestion control (default bbr)
 */
import { NewtosError } from '../errors.js';
import { validateStackConfig } from '../config/stack-config.js';

/** parseArgs options of the host flags. */
export const HOST_FLAGS = {
  tap: { type: 'string' }, udp: { type: 'string' }, remote: { type: 'string' }, mode: { type: 'string' }, vni: { type: 'string' },
  ip: { type: 'string' }, gw: { type: 'string' }, mtu: { type: 'string' }, placement: { type: 'string' }, offload: { type: 'string' },
  dns: { type: 'string', multiple: true },
  cc: { type: 'string' },
  replicas: { type: 'string' },
} as const;

export type HostFlagValues = { readonly [K in Exclude<keyof typeof HOST_FLAGS, 'dns'>]?: string | undefined } & { readonly dns?: readonly string[] | undefined };

const MODES = ['dgram', 'stream', 'vxlan'] as const;

function badFlag(message: string): NewtosError {
  return new NewtosError('ERR_INVALID_ARG_VALUE', message);
}

/** A plain configuration for one host named `name` from the host flags, or a Node-style error saying which flag is wrong. */
export function hostConfigFromFlags(v: HostFlagValues, name: string): Record<string, unknown> {
  if (v.tap !== undefined && v.udp !== undefined) throw badFlag('give one link: --tap DEV or --udp HOST:PORT, not both');
  if (v.tap === undefined && v.udp === undefined) throw badFlag('a host needs a link: --tap DEV, or --udp HOST:PORT with --remote HOST:PORT');
  if (v.ip === undefined) throw badFlag('a host needs an address: --ip A.B.C.D/N');
  if (v.offload !== undefined && v.offload !== 'on' && v.offload !== 'off') throw badFlag(`--offload must be on or off, not '${v.offload}'`);
  let link: Record<string, unknown>;
  /** The interface's checksumOffload, when --offload sets it. */
  let checksumOffload: boolean | undefined;
  if (v.tap !== undefined) {
    for (const flag of ['remote', 'mode', 'vni'] as const) if (v[flag] !== undefined) throw badFlag(`--${flag} belongs to a --udp link, not to --tap`);
    // Off: no virtio-net header, so neither partial checksums nor super-frames either way.
    link = { type: 'tap', device: v.tap, ...(v.offload === 'off' ? { vnetHeader: false } : {}) };
    if (v.offload !== undefined) checksumOffload = v.offload === 'on';
  } else {
    if (v.offload === 'on') throw badFlag('--offload on needs a --tap link: a link over UDP carries whole, checksummed frames');
    if (v.remote === undefined) throw badFlag('--udp needs --remote HOST:PORT (the peer the frames go to)');
    const mode = v.mode ?? 'dgram';
    if (!(MODES as readonly string[]).includes(mode)) throw badFlag(`--mode must be dgram, stream or vxlan, not '${mode}'`);
    let vni: number | undefined;
    if (mode === 'vxlan' && v.vni === undefined) throw badFlag('--mode vxlan needs --vni N (the VXLAN network identifier)');
    if (v.vni !== undefined) {
      if (mode !== 'vxlan') throw badFlag('--vni only applies to --mode vxlan');
      vni = Number(v.vni);
      if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) throw badFlag(`--vni must be an integer from 0 to 16777215, not '${v.vni}'`);
    }
    link = { type: 'udp', mode, local: v.udp, remote: v.remote, ...(vni !== undefined ? { vni } : {}) };
  }
  let mtu: number | undefined;
  if (v.mtu !== undefined) {
    mtu = Number(v.mtu);
    if (!Number.isInteger(mtu)) throw badFlag(`--mtu must be an integer, not '${v.mtu}'`);
  }
  let replicas: number | undefined;
  if (v.replicas !== undefined) {
    replicas = Number(v.replicas);
    if (!/^\d+$/.test(v.replicas)) throw badFlag(`--replicas must be an integer from 1 to 16, not '${v.replicas}'`);
  }
  const config = {
    name,
    ...(replicas !== undefined ? { replicas } : {}),
    interfaces: [{ name: 'eth0', link, addresses: [v.ip], ...(mtu !== undefined ? { mtu } : {}), ...(checksumOffload !== undefined ? { checksumOffload } : {}) }],
    ...(v.gw !== undefined ? { routes: [{ destination: '0.0.0.0/0', gateway: v.gw }] } : {}),
    // The CLI lets the host choose (isolated with a core per server thread, else grouped):
    // on a small machine isolated threads take turns on the cores, a wake-up per hop.
    placement: v.placement ?? 'auto',
    ...(v.dns !== undefined && v.dns.length > 0 ? { dns: { resolvers: [...v.dns] } } : {}),
    ...(v.cc !== undefined ? { tcp: { congestionControl: v.cc } } : {}),
  };
  // createStack would refuse a bad value naming the configuration field; name the flag instead.
  const checked = validateStackConfig(config);
  if (!checked.ok) throw badFlag(checked.issues.map((i) => `${flagOf(i.path)}: ${i.reason}`).join('; '));
  return config;
}

/** The flag behind a configuration field that hostConfigFromFlags fills. */
function flagOf(path: string): string {
  const flags: [RegExp, string][] = [
    [/link\.device/, '--tap'], [/link\.local/, '--udp'], [/link\.remote/, '--remote'], [/link\.mode/, '--mode'], [/link\.vni/, '--vni'],
    [/link\.vnetHeader/, '--offload'], [/checksumOffload/, '--offload'],
    [/addresses/, '--ip'], [/mtu/, '--mtu'], [/routes/, '--gw'], [/placement/, '--placement'], [/^dns/, '--dns'], [/congestionControl/, '--cc'], [/^replicas/, '--replicas'],
  ];
  return flags.find(([re]) => re.test(path))?.[1] ?? path;
}
