/**
 * The IP core's configuration (plain data, kept in the supervisor's data store
 * and reloaded after a crash), its inputs and outputs (plain data, so the core
 * can later sit behind channels in its own server), and its counters.
 */
import type { ArpConfig } from './arp-core.js';
import type { ReassemblyConfig, ReassemblyDropReason } from './reassembly.js';
import type { Route } from './route-table.js';
import type { VerdictRequest } from '../abi/verdict.js';
import type { TransportSend } from '../abi/transport.js';

export type { TransportSend };
import type { PmtuConfig, PmtuCounters } from './pmtu-cache.js';

export interface InterfaceAddress {
  readonly address: number;
  readonly prefixLen: number;
}

export interface IpInterfaceConfig {
  readonly name: string;
  /** 48-bit MAC address. */
  readonly mac: number;
  /** IP MTU: the largest IPv4 packet sent on this link (1500 on Ethernet). */
  readonly mtu: number;
  readonly addresses: readonly InterfaceAddress[];
  /** When set, frames are sent with this 802.1Q VLAN id and only frames tagged with it are accepted. */
  readonly vlan?: number | null;
}

export interface IpConfig {
  readonly interfaces: readonly IpInterfaceConfig[];
  /** Extra routes (on-link routes for interface subnets are implied). */
  readonly routes: readonly Route[];
  /** Forward datagrams not for us between interfaces (RFC 1812). Off by default (RFC 1122 host). */
  readonly forwarding: boolean;
  readonly defaultTtl: number;
  /** Ask for a packet-filter verdict on every datagram in and out. */
  readonly filter: boolean;
  /** Protocols with a transport behind the core; others get ICMP protocol unreachable. ICMP (1) is always handled. */
  readonly transports: readonly number[];
  readonly icmpErrorsPerSecond: number;
  readonly icmpErrorBurst: number;
  /** Answer echo requests sent to a broadcast or multicast address (Linux default: no). */
  readonly echoBroadcasts: boolean;
  readonly maxPendingVerdicts: number;
  readonly verdictTimeoutMs: number;
  readonly reassembly: Partial<ReassemblyConfig>;
  readonly arp: Partial<ArpConfig>;
  /** Path MTU cache (RFC 1191): expiry (10 minutes), floor (552), size. */
  readonly pmtu: Partial<PmtuConfig>;
}

export const DEFAULT_IP_CONFIG: Omit<IpConfig, 'interfaces'> = {
  routes: [],
  forwarding: false,
  defaultTtl: 64,
  filter: false,
  transports: [6, 17],
  icmpErrorsPerSecond: 100,
  icmpErrorBurst: 50,
  echoBroadcasts: false,
  maxPendingVerdicts: 1024,
  verdictTimeoutMs: 2_000,
  reassembly: {},
  arp: {},
  pmtu: {},
};

/**
 * Why the core gave up a buffer it was given with a token (a `released` output):
 * - dropped: the packet was dropped (its reason is in drops, frameDrops or txDrops);
 * - consumed: the core read it and is done (ARP, an ICMP message it answered or reported);
 * - copied, loopback, reassembly, fragmented: what goes on is a copy of its bytes (a send
 *   without headroom, a datagram to ourselves, a fragment kept for reassembly, the
 *   fragments of a datagram larger than the MTU);
 * - verdict-drop, verdict-reject, verdict-timeout: the packet filter refused it, or never answered;
 * - arp-unresolved, arp-queue-full, arp-cache-full: it waited for a next hop that never
 *   answered, or was pushed out of the neighbour queue or table.
 */
export const RELEASE_REASONS = [
  'dropped', 'consumed', 'copied', 'loopback', 'reassembly', 'fragmented',
  'verdict-drop', 'verdict-reject', 'verdict-timeout', 'arp-unresolved', 'arp-queue-full', 'arp-cache-full',
] as const;
export type ReleaseReason = (typeof RELEASE_REASONS)[number];

/**
 * Buffer ownership. onFrame, send and sendIcmpError take the caller's buffer with an
 * optional `token`. The core says exactly once what became of it: a `frame` or `deliver`
 * output carrying the token (the buffer leaves as that message), or a `released` output
 * (the core is done with it), in the call's outputs or, when it kept the buffer (a filter
 * verdict, ARP), in those of a later call. A call whose outputs name neither kept it.
 * A `released` comes after every output of the same call that reads the buffer (a
 * send-error, an ICMP error quoting it).
 */
export type IpOutput =
  /** An Ethernet frame to send on interface `ifIndex`; `token`: it lies in that caller's buffer. */
  | {
    readonly type: 'frame'; readonly ifIndex: number; readonly frame: Uint8Array; readonly gsoMss?: number; readonly checksumPartial?: boolean;
    readonly token?: number;
  }
  /** A datagram for a local transport; `payload` starts after the IP header; `token`: it lies in that caller's buffer. */
  | {
    readonly type: 'deliver'; readonly protocol: number; readonly src: number; readonly dst: number;
    readonly ttl: number; readonly tos: number; readonly ifIndex: number; readonly token?: number;
    /** The whole datagram (header included), as needed to quote it in an ICMP error. */
    readonly datagram: Uint8Array; readonly payload: Uint8Array;
    /** The transport checksum was checked already (link offload), or never needed (loopback TSO). */
    readonly checksumVerified?: boolean;
  }
  /** An ICMP error about a datagram a local transport sent (RFC 1122 §3.2.2, §4.2.3.9). */
  | {
    readonly type: 'icmp-error'; readonly protocol: number; readonly icmpType: number; readonly icmpCode: number;
    /** RFC 1191 next-hop MTU for "fragmentation needed", else 0. */
    readonly nextHopMtu: number;
    /** Who reported it. */
    readonly reporter: number;
    readonly origSrc: number; readonly origDst: number;
    /** The quoted transport bytes (at least the ports when the reporter sent 8). */
    readonly quoted: Uint8Array;
  }
  | VerdictRequest
  /** A local send that could not go out. */
  | {
    readonly type: 'send-error'; readonly code: 'EHOSTUNREACH' | 'ENETUNREACH' | 'EMSGSIZE' | 'EPERM' | 'ENOBUFS';
    readonly dst: number; readonly token: number; readonly nextHopMtu: number;
    /**
     * The datagram as sent (IPv4 header first), or its first fragment, when it is no longer
     * in the sender's buffer (copied, or cut into fragments, and the buffer released): what
     * the transport is told quotes it.
     */
    readonly datagram?: Uint8Array;
  }
  /** The core is done with the buffer it was given with `token` (see above). */
  | { readonly type: 'released'; readonly token: number; readonly reason: ReleaseReason };

export const FRAME_DROP_REASONS = [
  'frame-truncated', 'frame-truncated-vlan', 'frame-not-ethernet-ii', 'frame-stacked-vlan',
  'frame-not-for-us', 'frame-vlan-mismatch', 'frame-unknown-ethertype', 'frame-bad-interface',
  'arp-truncated', 'arp-unsupported-hardware', 'arp-unsupported-protocol', 'arp-bad-address-length', 'arp-unknown-operation',
] as const;
export type FrameDropReason = (typeof FRAME_DROP_REASONS)[number];

export const IP_DROP_REASONS = [
  'truncated', 'bad-version', 'bad-header-length', 'bad-total-length', 'bad-checksum', 'bad-fragment',
  'martian-source', 'martian-destination', 'not-for-us', 'multicast-not-joined', 'no-route', 'ttl-exceeded',
  'filtered', 'verdict-queue-full', 'verdict-timeout', 'unknown-protocol', 'syn-neighbour-table-full',
  'icmp-truncated', 'icmp-bad-checksum', 'icmp-bad-quote', 'echo-broadcast-ignored',
  'reassembly-overlap', 'reassembly-duplicate', 'reassembly-bad-length', 'reassembly-conflict',
  'reassembly-too-many-fragments', 'reassembly-memory', 'reassembly-too-big',
] as const;
export type IpDropReason = (typeof IP_DROP_REASONS)[number];
// Compile-time check: every reassembly drop reason is also an IP drop reason.
const reassemblyReasonsAreIpReasons = (r: ReassemblyDropReason): IpDropReason => r;
void reassemblyReasonsAreIpReasons;

export const TX_DROP_REASONS = [
  'no-route', 'frag-needed', 'filtered', 'verdict-queue-full', 'verdict-timeout', 'too-big',
  'arp-unresolved', 'arp-queue-full', 'arp-cache-full', 'no-source-address',
] as const;
export type TxDropReason = (typeof TX_DROP_REASONS)[number];

export function zeroCounts<K extends string>(keys: readonly K[]): Record<K, number> {
  const r = {} as Record<K, number>;
  for (const k of keys) r[k] = 0;
  return r;
}

export interface IpCounters {
  rxFrames: number;
  rxArp: number;
  /** IPv4 packets handed to IP input (one per frame carrying IPv4). */
  rxPackets: number;
  frameDrops: Record<FrameDropReason, number>;
  /**
   * Input fate of every packet. Invariant (IpCore.inputBalance):
   * rxPackets + reassembled = delivered + forwarded + fragmentsHeld + pendingIn + sum(drops).
   */
  drops: Record<IpDropReason, number>;
  delivered: number;
  forwarded: number;
  fragmentsHeld: number;
  reassembled: number;
  reassemblyTimeouts: number;
  /** Local sends to one of our own addresses, delivered without a link. */
  loopback: number;
  txPackets: number;
  txFrames: number;
  txFragments: number;
  txDrops: Record<TxDropReason, number>;
  echoReplies: number;
  icmpErrorsSent: number;
  icmpErrorsRateLimited: number;
  icmpErrorsSuppressed: number;
  verdictRequests: number;
  verdictUnknown: number;
  /** Callers' buffers given up without leaving in a frame or delivery, by reason (a `released` output each). */
  released: Record<ReleaseReason, number>;
  /** Path MTUs learnt per destination (entries now, learnt, ignored, expired). */
  pmtu: PmtuCounters;
}
