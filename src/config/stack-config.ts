/**
 * Configuration of one newtos host: interfaces and how they attach (virtual
 * switch, TAP, Ethernet over UDP / VXLAN), addresses, routes, the packet filter,
 * placement of the servers, resource limits and protocol tunables.
 *
 * The same validation serves code (`createStack(config)`) and files
 * (`loadStackConfigFile`): every problem is reported with the field's path and,
 * for files, the line and column. Nothing is half-applied: a configuration with
 * any issue is refused whole.
 */
import { readFileSync } from 'node:fs';
import { NewtosError } from '../errors.js';
import { parseLocatedJson, type SourcePosition } from './located-json.js';
import { formatIpv4Address, inPrefix, parseIpv4Address } from '../wire/ipv4-address.js';
import {
  type ConfigIssue, IssueSink, type Validator, arrayOf, boolean, describe, falseOr, integer, object, oneOf,
  optional, required, string, taggedUnion, withSchema, type JsonSchema,
} from './schema.js';

export interface Ipv4Prefix {
  /** Address as an unsigned 32-bit number. */
  readonly address: number;
  readonly prefixLength: number;
  /** The text it was written as, e.g. "10.0.0.2/24". */
  readonly text: string;
}

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export type LinkConfig =
  | { readonly type: 'vswitch'; readonly switch: string }
  /**
   * A Linux TAP device. `vnetHeader` (default true): open it with IFF_VNET_HDR and
   * checksum/TSO offload, as Linux's virtio NICs are, so TCP bursts of up to 64 KiB
   * cross it whole both ways (the kernel segments them only where it must).
   */
  | { readonly type: 'tap'; readonly device: string; readonly vnetHeader?: boolean }
  | { readonly type: 'udp'; readonly mode: 'dgram' | 'stream' | 'vxlan'; readonly local: Endpoint; readonly remote: Endpoint; readonly vni?: number }
  /**
   * The program's own link: it supplies and consumes the interface's Ethernet frames through
   * `stack.frameLink(name)` (a Duplex stream of frames; src/app/frame-link.ts).
   */
  | { readonly type: 'frames' };

export interface InterfaceConfig {
  readonly name: string;
  readonly link: LinkConfig;
  readonly mac?: string;
  readonly mtu?: number;
  readonly addresses: readonly Ipv4Prefix[];
  /**
   * The link completes TCP checksums (default: true on virtual-switch ports and TAP
   * devices with a virtio-net header, which can; refused on UDP links): TCP leaves them
   * unfilled and the link fills them only for a receiver that needs them, as virtio-net's
   * checksum offload. false: the driver fills every checksum before the frame leaves.
   */
  readonly checksumOffload?: boolean;
}

export interface RouteConfig {
  readonly destination: Ipv4Prefix;
  readonly gateway?: number;
  readonly interface?: string;
}

/**
 * Servers on threads: 'isolated' a worker each; 'grouped' two workers per host, the link side
 * (driver, IP, PF) and the transport side (TCP, UDP, SOCK), for machines with fewer cores than
 * an isolated host has threads; 'monolithic' one worker; 'postmessage' isolated, with the
 * server-to-server channels over MessagePort; 'auto' isolated when the machine has a core for
 * every server thread and one for the application, else grouped (createStack decides once, at
 * start, and says why: Stack.placementDecision).
 */
export type Placement = 'isolated' | 'grouped' | 'monolithic' | 'postmessage' | 'auto';

export interface StackConfig {
  readonly name?: string;
  readonly interfaces: readonly InterfaceConfig[];
  readonly routes?: readonly RouteConfig[];
  readonly forwarding?: boolean;
  /** Packet-filter rules in newtos's rule text format. */
  readonly filter?: string;
  readonly placement?: Placement;
  readonly replicas?: number;
  /**
   * The replica monitor (with replicas > 1): every `intervalMs` it reads the frames each
   * replica's queue took and drains replicas down to what the load needs (one per
   * `perReplicaFps` frames/s, at least `minReplicas`) or brings them back; `false` (or
   * `enabled: false`) turns it off and keeps all `replicas` taking flows.
   * For every host, replicas or not, it also places the server threads: `polling` 'auto'
   * (default) lets it choose each thread's polling mode from its load and the cores free
   * (src/substrate/thread-monitor.ts), or fixes one mode for all; `pinning` (default true)
   * pins threads that spin to cores of their own. `false` turns both off as well.
   */
  readonly monitor?: false | {
    readonly enabled?: boolean;
    readonly minReplicas?: number;
    readonly perReplicaFps?: number;
    readonly holdMs?: number;
    readonly quietMs?: number;
    readonly intervalMs?: number;
    readonly polling?: 'auto' | 'adaptive' | 'busy' | 'sleep';
    readonly pinning?: boolean;
    /** Busy share of a thread (%) above which the thread monitor may let it spin (default 30). */
    readonly spinAbovePct?: number;
    /**
     * The placement monitor (src/stack/placement-monitor.ts): moves the running servers between
     * the 'isolated' and 'grouped' placements as the cores free for them change. Default: on for
     * placement 'auto', off otherwise. `regroupHoldMs` (default 3000) is how long the cores
     * must ask for a change, `regroupCooldownMs` (default 30000) how long nothing moves after one.
     */
    readonly regroup?: boolean;
    readonly regroupHoldMs?: number;
    readonly regroupCooldownMs?: number;
  };
  readonly limits?: { readonly maxHeapMb?: number; readonly maxSockets?: number; readonly poolBuffers?: number; readonly filterStates?: number };
  /**
   * The supervisor's hang rules. A server thread whose heartbeat stands still while it runs
   * `hangCpuMs` (default 120: over twice the longest silent run seen in a server thread, 52 ms, GC included; 24 ms in a whole test-suite run) on a CPU, by its own clock (so waiting for a core never counts), or
   * for `hangTimeoutMs` (default 500) of wall time with messages waiting for it, is taken for
   * hung: terminated and restarted like a crashed one. A thread that holds only packet servers
   * (driver, IP, PF, UDP: small heaps, short GC pauses) is held to `packetHangCpuMs` instead
   * (default 30; hangCpuMs when only that is given), so a hang there costs less.
   */
  readonly watchdog?: { readonly hangCpuMs?: number; readonly packetHangCpuMs?: number; readonly hangTimeoutMs?: number };
  /**
   * The supervisor's restart policy: a server that dies more than `maxRestarts` times within
   * `windowMs` is given up (failed: a crash loop); restarts within `backoffResetMs` of the last
   * wait min(backoffBaseMs * 2^(n-1), backoffMaxMs) before the n-th (and take no warm standby).
   */
  readonly restart?: {
    readonly maxRestarts?: number; readonly windowMs?: number;
    readonly backoffBaseMs?: number; readonly backoffMaxMs?: number; readonly backoffResetMs?: number;
    /** A failed server is revived by itself this long after it failed (0, the default: never). */
    readonly retryAfterMs?: number;
  };
  readonly tcp?: {
    readonly congestionControl?: 'cubic' | 'newreno' | 'bbr';
    readonly sendBufferBytes?: number;
    readonly receiveBufferBytes?: number;
    readonly mslMs?: number;
    readonly synCookies?: boolean;
    /** Path MTU discovery (RFC 1191): DF on every segment, default true (as Linux). */
    readonly pathMtuDiscovery?: boolean;
    /** RACK loss detection (RFC 8985 §6) on SACK connections, default false (README: why). */
    readonly rack?: boolean;
    /** Tail loss probes (RFC 8985 §7) on SACK connections, default true. */
    readonly tailLossProbes?: boolean;
  };
  /** Path MTUs learnt per destination: how long one holds (default 600000 ms, as Linux) and the floor (552). */
  readonly pmtu?: { readonly expiresMs?: number; readonly minMtu?: number };
  /**
   * Software offloads in the driver (default on): `tso`, TCP hands bursts of up to
   * 64 KiB to IP and the driver cuts them into MTU-sized segments (GSO); `gro`, the
   * driver merges in-sequence TCP segments of a flow it receives in one batch.
   */
  readonly offloads?: { readonly tso?: boolean; readonly gro?: boolean };
  /** Software RSS in the driver: receive queues (1..128) its Toeplitz hash steers frames to. */
  readonly rss?: { readonly queues?: number };
  /**
   * The DNS client (src/app/dns-client.ts): resolvers ('A.B.C.D' or 'A.B.C.D:PORT', asked in
   * order over the stack's own UDP), how long each query is waited for (default 2000 ms) and
   * how many rounds over them (default 2). Names in `net.connect({ host })` resolve through it.
   */
  readonly dns?: { readonly resolvers: readonly Endpoint[]; readonly timeoutMs?: number; readonly attempts?: number };
}

/**
 * Default CPU hang rule (ms) of threads that hold only packet servers (driver, IP, PF, UDP):
 * their heaps stay small, so a GC pause there is short; see StackConfig.watchdog.
 */
export const PACKET_HANG_CPU_MS = 30;
/** Default CPU hang rule (ms) of every other thread (TCP and SOCK hold per-connection state). */
export const HANG_CPU_MS = 120;

/** Most sockets of one kind a host may have (a socket table's slots). */
export const MAX_SOCKETS = 65536;
/** Default tcp.sendBufferBytes and tcp.receiveBufferBytes. */
export const DEFAULT_TCP_BUFFER_BYTES = 256 * 1024;
/**
 * Largest TCP socket table (maxSockets x (send + receive buffer)). It is one shared
 * memory reservation made at start and touched only as sockets use it, but it is
 * address space all the same: a fork (child_process) must account for it, and a few
 * large ones side by side made fork fail with ENOMEM on this 24 GiB machine.
 */
export const MAX_SOCKET_TABLE_BYTES = 8 * 1024 ** 3;

/**
 * Default limits.maxSockets (TCP sockets, and as many UDP ones): 1024, or fewer with large
 * TCP buffers, so the table stays within 2 GiB (with 4 MiB buffers, 256).
 */
export function defaultMaxSockets(tcp?: StackConfig['tcp']): number {
  return Math.max(16, Math.min(1024, Math.floor(2 * 1024 ** 3 / tcpBytesPerSocket(tcp))));
}

/** A TCP socket's share of the table: its send and receive buffers. */
function tcpBytesPerSocket(tcp?: StackConfig['tcp']): number {
  return (tcp?.sendBufferBytes ?? DEFAULT_TCP_BUFFER_BYTES) + (tcp?.receiveBufferBytes ?? DEFAULT_TCP_BUFFER_BYTES);
}

/** Dotted quad to uint32, or undefined when the text is not exactly an IPv4 address. */
export function parseIpv4(text: string): number | undefined {
  return parseIpv4Address(text) ?? undefined;
}

/** A dotted quad (JSON Schema pattern; parseIpv4 is the check). */
const IPV4_PATTERN = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}';

const ipv4: Validator<number> = withSchema((v, path, sink) => {
  const n = typeof v === 'string' ? parseIpv4(v) : undefined;
  return n !== undefined ? n : sink.add(path, `must be an IPv4 address like '10.0.0.1', not ${describe(v)}`);
}, { type: 'string', pattern: `^${IPV4_PATTERN}$`, description: "an IPv4 address like '10.0.0.1'" });

const ipv4Prefix: Validator<Ipv4Prefix> = withSchema((v, path, sink) => {
  if (typeof v === 'string') {
    const [addr, len, extra] = v.split('/');
    const address = addr === undefined ? undefined : parseIpv4(addr);
    const prefixLength = len !== undefined && /^(3[0-2]|[12]?[0-9])$/.test(len) ? Number(len) : undefined;
    if (address !== undefined && prefixLength !== undefined && extra === undefined) return { address, prefixLength, text: v };
  }
  return sink.add(path, `must be an IPv4 prefix like '10.0.0.2/24', not ${describe(v)}`);
}, { type: 'string', pattern: `^${IPV4_PATTERN}/(3[0-2]|[12]?[0-9])$`, description: "an IPv4 prefix like '10.0.0.2/24'" });

const endpoint: Validator<Endpoint> = withSchema((v, path, sink) => {
  const m = typeof v === 'string' ? /^([^:]+):([0-9]{1,5})$/.exec(v) : null;
  if (m !== null && Number(m[2]) <= 65535) return { host: m[1]!, port: Number(m[2]) };
  return sink.add(path, `must be 'host:port' with a port from 0 to 65535, not ${describe(v)}`);
}, { type: 'string', pattern: '^[^:]+:[0-9]{1,5}$', description: "'host:port', port 0 to 65535" });


/** A DNS resolver: 'A.B.C.D' (port 53) or 'A.B.C.D:PORT'. */
const resolver: Validator<Endpoint> = withSchema((v, path, sink) => {
  const m = typeof v === 'string' ? /^([0-9.]+)(?::([0-9]{1,5}))?$/.exec(v) : null;
  const port = m?.[2] === undefined ? 53 : Number(m[2]);
  if (m !== null && parseIpv4(m[1]!) !== undefined && port >= 1 && port <= 65535) return { host: m[1]!, port };
  return sink.add(path, `must be a resolver's IPv4 address, 'A.B.C.D' or 'A.B.C.D:PORT' (port 1 to 65535), not ${describe(v)}`);
}, { type: 'string', pattern: `^${IPV4_PATTERN}(:[0-9]{1,5})?$`, description: "a resolver, 'A.B.C.D' or 'A.B.C.D:PORT' (port 1 to 65535)" });

const mac = string(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, "a MAC address like '02:00:00:00:00:01'");
const ifName = string(/^[A-Za-z][A-Za-z0-9_.-]{0,14}$/, 'an interface name (letter first, at most 15 of A-Z a-z 0-9 _ . -)');

const link: Validator<LinkConfig> = taggedUnion<LinkConfig>('type', {
  vswitch: object({ type: required(oneOf(['vswitch'])), switch: required(string(/^.+$/, 'a switch name')) }),
  tap: object({ type: required(oneOf(['tap'])), device: required(ifName), vnetHeader: optional(boolean()) }),
  udp: object({
    type: required(oneOf(['udp'])), mode: required(oneOf(['dgram', 'stream', 'vxlan'])),
    local: required(endpoint), remote: required(endpoint), vni: optional(integer(0, 0xffffff)),
  }),
  frames: object({ type: required(oneOf(['frames'])) }),
});

const interfaceConfig = object({
  name: required(ifName),
  link: required(link),
  mac: optional(mac),
  mtu: optional(integer(68, 65535)),
  addresses: required(arrayOf(ipv4Prefix)),
  checksumOffload: optional(boolean()),
});

const routeConfig = object({
  destination: required(ipv4Prefix),
  gateway: optional(ipv4),
  interface: optional(ifName),
});

const stackConfig = object({
  name: optional(string(/^[A-Za-z0-9_.-]{1,32}$/, 'a name of 1 to 32 letters, digits, _ . -')),
  interfaces: required(arrayOf(interfaceConfig, { min: 1, max: 16 })),
  routes: optional(arrayOf(routeConfig)),
  forwarding: optional(boolean()),
  filter: optional(string()),
  placement: optional(oneOf(['isolated', 'grouped', 'monolithic', 'postmessage', 'auto'])),
  replicas: optional(integer(1, 16)),
  monitor: optional(falseOr(object({
    enabled: optional(boolean()),
    minReplicas: optional(integer(1, 16)),
    perReplicaFps: optional(integer(1, 100_000_000)),
    holdMs: optional(integer(0, 3_600_000)),
    quietMs: optional(integer(0, 3_600_000)),
    intervalMs: optional(integer(10, 60_000)),
    polling: optional(oneOf(['auto', 'adaptive', 'busy', 'sleep'])),
    pinning: optional(boolean()),
    spinAbovePct: optional(integer(1, 100)),
    regroup: optional(boolean()),
    regroupHoldMs: optional(integer(0, 3_600_000)),
    regroupCooldownMs: optional(integer(0, 3_600_000)),
  }))),
  watchdog: optional(object({
    hangCpuMs: optional(integer(5, 600_000)),
    packetHangCpuMs: optional(integer(5, 600_000)),
    hangTimeoutMs: optional(integer(10, 600_000)),
  })),
  restart: optional(object({
    maxRestarts: optional(integer(0, 1_000_000)),
    windowMs: optional(integer(1, 86_400_000)),
    backoffBaseMs: optional(integer(0, 600_000)),
    backoffMaxMs: optional(integer(0, 3_600_000)),
    backoffResetMs: optional(integer(0, 3_600_000)),
    retryAfterMs: optional(integer(0, 86_400_000)),
  })),
  limits: optional(object({
    maxHeapMb: optional(integer(16, 16384)),
    maxSockets: optional(integer(1, MAX_SOCKETS)),
    poolBuffers: optional(integer(64, 1_000_000)),
    filterStates: optional(integer(16, 1_048_576)),
  })),
  tcp: optional(object({
    congestionControl: optional(oneOf(['cubic', 'newreno', 'bbr'])),
    sendBufferBytes: optional(integer(4096, 64 * 1024 * 1024)),
    receiveBufferBytes: optional(integer(4096, 64 * 1024 * 1024)),
    mslMs: optional(integer(0, 600_000)),
    synCookies: optional(boolean()),
    pathMtuDiscovery: optional(boolean()),
    rack: optional(boolean()),
    tailLossProbes: optional(boolean()),
  })),
  pmtu: optional(object({
    expiresMs: optional(integer(1000, 86_400_000)),
    minMtu: optional(integer(68, 65535)),
  })),
  offloads: optional(object({
    tso: optional(boolean()),
    gro: optional(boolean()),
  })),
  rss: optional(object({
    queues: optional(integer(1, 128)),
  })),
  dns: optional(object({
    resolvers: required(arrayOf(resolver, { min: 1, max: 8 })),
    timeoutMs: optional(integer(10, 60_000)),
    attempts: optional(integer(1, 10)),
  })),
});

/** Checks that span fields: unique names, routes naming known interfaces, the socket table's size. */
function crossCheck(config: StackConfig, sink: IssueSink): void {
  const names = new Set<string>();
  config.interfaces.forEach((ifc, i) => {
    if (names.has(ifc.name)) sink.add(['interfaces', i, 'name'], `'${ifc.name}' is used by an earlier interface`);
    names.add(ifc.name);
    if (ifc.link.type === 'udp' && ifc.link.mode !== 'vxlan' && ifc.link.vni !== undefined) {
      sink.add(['interfaces', i, 'link', 'vni'], "only applies to mode 'vxlan'");
    }
    if (ifc.link.type === 'udp' && ifc.link.mode === 'vxlan' && ifc.link.vni === undefined) {
      sink.add(['interfaces', i, 'link', 'vni'], "is required with mode 'vxlan' (the VXLAN network identifier, 0 to 16777215)");
    }
  });
  const sockets = config.limits?.maxSockets ?? defaultMaxSockets(config.tcp);
  const perSocket = tcpBytesPerSocket(config.tcp);
  if (sockets * perSocket > MAX_SOCKET_TABLE_BYTES) {
    const gib = (b: number): string => `${(b / 1024 ** 3).toFixed(1)} GiB`;
    sink.add(config.limits?.maxSockets !== undefined ? ['limits', 'maxSockets'] : ['tcp'],
      `${sockets} sockets x ${perSocket} bytes of TCP buffers (send + receive) is ${gib(sockets * perSocket)}, over the ${gib(MAX_SOCKET_TABLE_BYTES)} a socket table may reserve: lower limits.maxSockets or the tcp buffer sizes`);
  }
  config.routes?.forEach((r, i) => {
    if (r.interface !== undefined && !names.has(r.interface)) {
      sink.add(['routes', i, 'interface'], `names no interface of this host (have: ${[...names].join(', ')})`);
    }
    if (r.gateway === undefined && r.interface === undefined) {
      sink.add(['routes', i], "needs a 'gateway' or an 'interface'");
    }
    // A gateway is reached by ARP on a link, so it must be in a subnet of the host (as Linux
    // refuses `ip route add ... via` an unreachable gateway); else no packet would leave.
    const gw = r.gateway;
    if (gw !== undefined) {
      const candidates = config.interfaces.filter((ifc) => r.interface === undefined || ifc.name === r.interface);
      const subnets = candidates.flatMap((ifc) => ifc.addresses);
      if (candidates.length > 0 && !subnets.some((a) => inPrefix(gw, a.address, a.prefixLength))) {
        const where = r.interface === undefined ? 'every local subnet' : `the subnets of ${r.interface}`;
        sink.add(['routes', i, 'gateway'], `${formatIpv4Address(gw)} is outside ${where} (${subnets.map((a) => a.text).join(', ') || 'none'}): a gateway must be on a link of this host`);
      }
    }
  });
  const regroup = config.monitor === false ? undefined : config.monitor?.regroup;
  if (regroup === true && (config.placement === 'monolithic' || config.placement === 'postmessage')) {
    sink.add(['monitor', 'regroup'], `servers move only between the 'isolated' and 'grouped' placements (placement is '${config.placement}')`);
  }
  const min = config.monitor === false ? undefined : config.monitor?.minReplicas;
  if (min !== undefined && min > (config.replicas ?? 1)) {
    sink.add(['monitor', 'minReplicas'], `${min} is more than replicas (${config.replicas ?? 1}): the monitor drains replicas, it never starts more`);
  }
}

export type ConfigResult =
  | { readonly ok: true; readonly config: StackConfig }
  | { readonly ok: false; readonly issues: readonly (ConfigIssue & { readonly position?: SourcePosition })[] };

/** Validate a configuration given as a plain value (from code or parsed JSON). */
/**
 * The JSON Schema (draft 2020-12) of a configuration file, generated from the validators
 * themselves (docs/config.schema.json is this, checked by test/config/json-schema.test.ts).
 * The validators also check what a schema cannot say (ports in range, cross-field rules).
 */
export function stackConfigJsonSchema(): JsonSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'newtos host configuration',
    ...stackConfig.schema,
  };
}

export function validateStackConfig(value: unknown): ConfigResult {
  const sink = new IssueSink();
  const config = stackConfig(value, [], sink) as StackConfig | undefined;
  if (config !== undefined) crossCheck(config, sink);
  if (config === undefined || sink.issues.length > 0) return { ok: false, issues: sink.issues };
  return { ok: true, config };
}

/** Parse and validate configuration text; issues carry line and column. */
export function parseStackConfig(text: string): ConfigResult {
  const parsed = parseLocatedJson(text);
  if (!parsed.ok) return { ok: false, issues: [{ path: '(syntax)', reason: parsed.reason, position: parsed.position }] };
  const result = validateStackConfig(parsed.value);
  if (result.ok) return result;
  return {
    ok: false,
    issues: result.issues.map((issue) => {
      // The position of the field itself, or of the nearest enclosing value that exists.
      let key = issue.path;
      let position = parsed.positions.get(key);
      while (position === undefined && key.length > 0) {
        key = key.replace(/(\.[^.[\]]+|\[[0-9]+\])$/, '');
        if (key === issue.path) break;
        position = parsed.positions.get(key === '' ? '' : key);
        if (key === '') break;
      }
      return position === undefined ? issue : { ...issue, position };
    }),
  };
}

export function formatConfigIssues(file: string, issues: ConfigResult & { ok: false }): string {
  return issues.issues.map((i) => {
    const where = 'position' in i && i.position !== undefined ? `${file}:${i.position.line}:${i.position.column}` : file;
    return `${where}: ${i.path}: ${i.reason}`;
  }).join('\n');
}

/** Read a JSON configuration file; throws ERR_NEWTOS_CONFIG listing every issue with its line. */
export function loadStackConfigFile(file: string): StackConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new NewtosError('ERR_NEWTOS_CONFIG', `cannot read configuration file ${file}: ${(e as Error).message}`, { cause: e });
  }
  const result = parseStackConfig(text);
  if (!result.ok) throw new NewtosError('ERR_NEWTOS_CONFIG', `invalid configuration:\n${formatConfigIssues(file, result)}`);
  return result.config;
}

/** Validate a configuration given in code; throws ERR_NEWTOS_CONFIG listing every issue. */
export function checkStackConfig(value: unknown): StackConfig {
  const result = validateStackConfig(value);
  if (!result.ok) throw new NewtosError('ERR_NEWTOS_CONFIG', `invalid configuration:\n${formatConfigIssues('config', result)}`);
  return result.config;
}
