/**
 * The one interface the NIC driver server uses for every link: a Linux TAP
 * device, Ethernet frames over UDP (QEMU, VXLAN), the in-process virtual switch.
 *
 * Frames are whole Ethernet frames without the FCS. They move in batches
 * straight between the link and *frame slots*: places in packet memory (the
 * driver's pool, a SharedArrayBuffer) given as a memory view plus per-slot
 * offsets and lengths, so a pool's free slots can be handed over as they are.
 * A backend never keeps a reference to a slot after the call returns.
 *
 * Nothing a link delivers throws: a frame that cannot be used is dropped and
 * counted under a named reason (`NicCounters.drops`).
 */
import { formatMac as formatMacNumber, parseMac as parseMacNumber, readMac, writeMac } from '../../wire/ethernet.js';

/** Frame slots in packet memory: what a pool lends a driver for one batch. */
export interface FrameSlots {
  /** View over the packet memory (usually over a SharedArrayBuffer pool). */
  readonly memory: Uint8Array;
  /**
   * Byte offset in `memory` of each slot. `receive` may move a slot's offset
   * forward by up to 7 bytes (never past its capacity) to keep a frame at the
   * address residue it had at the sender; the frame is where the offset says.
   */
  readonly offsets: Uint32Array;
  /** Frame length per slot: written by `receive`, read by `transmit`. */
  readonly lengths: Uint32Array;
  /** Bytes each slot can hold; `receive` drops longer frames ('rx-oversize'). */
  readonly capacity: number;
  /**
   * Optional per-slot receive flags, written by `receive` when present
   * (RX_FLAG_*; 0 when the backend knows nothing more).
   */
  readonly flags?: Uint8Array;
  /**
   * Optional per-slot TCP segment size. `transmit` to a link whose `tso` is true:
   * a non-zero entry marks the frame a GSO super-frame (TCP/IPv4, up to 64 KiB of
   * IP datagram, TCP checksum not filled) that the link cuts into segments of that
   * many payload bytes. `receive` writes it for super-frames (0 for the others).
   */
  readonly gsoSizes?: Uint32Array;
  /** Optional per-slot transmit flags (TX_FLAG_*) for `transmit`; absent: all 0. */
  readonly txFlags?: Uint8Array;
}

/**
 * Transmit: the frame is TCP/IPv4 and its TCP checksum is not filled; only for a
 * link whose `checksumOffload` is true, which completes it or hands it on to a
 * receiver that does not need it (Linux's CHECKSUM_PARTIAL).
 */
export const TX_FLAG_CSUM_PARTIAL = 1;

/** The frame's transport checksum is known good (kernel DATA_VALID, or a partial checksum we completed). */
export const RX_FLAG_CSUM_VERIFIED = 1;
/** A GSO super-frame from the kernel: larger than the MTU, one TCP segment of up to 64 KiB. */
export const RX_FLAG_SUPER_FRAME = 2;
/** Largest super-frame a TSO link carries: a 64 KiB IPv4 packet plus Ethernet and a VLAN tag. */
export const MAX_SUPER_FRAME = 65535 + 14 + 4;

/** Contiguous slots memory[base + i * stride] (a simple pool, or a test). */
export function contiguousSlots(memory: Uint8Array, count: number, stride: number, base = 0): FrameSlots {
  const offsets = new Uint32Array(count);
  for (let i = 0; i < count; i++) offsets[i] = base + i * stride;
  return { memory, offsets, lengths: new Uint32Array(count), capacity: stride };
}

/** Why a backend dropped a frame. Each reason is its own counter. */
export type NicDropReason =
  | 'rx-oversize' //      longer than the receive slot (or the link MTU)
  | 'rx-runt' //          shorter than an Ethernet header
  | 'rx-queue-full' //    event-driven link: arrived faster than the driver drained it
  | 'rx-bad-encap' //     UDP/VXLAN/stream framing malformed
  | 'rx-wrong-vni' //     VXLAN network identifier not ours
  | 'rx-foreign-peer' //  datagram from an address that is not the configured peer
  | 'rx-error' //         the OS reported a read error
  | 'tx-oversize' //      longer than MTU + Ethernet header
  | 'tx-runt' //          shorter than an Ethernet header
  | 'tx-no-peer' //       nowhere to send yet (e.g. a listening stream without a client)
  | 'tx-link-loss' //     virtual switch: lost by the configured loss impairment
  | 'tx-egress-full' //   virtual switch: a flooded copy found a port's pipe full
  | 'tx-error'; //        the OS refused the frame (link down, socket error)

export const NIC_DROP_REASONS: readonly NicDropReason[] = [
  'rx-oversize', 'rx-runt', 'rx-queue-full', 'rx-bad-encap', 'rx-wrong-vni', 'rx-foreign-peer',
  'rx-error', 'tx-oversize', 'tx-runt', 'tx-no-peer', 'tx-link-loss', 'tx-egress-full', 'tx-error',
];

/** Per-link counters. Plain numbers; read by the driver's statistics. */
export class NicCounters {
  rxFrames = 0;
  rxBytes = 0;
  txFrames = 0;
  txBytes = 0;
  /** The last OS error code seen (e.g. 'EIO'), for diagnostics. */
  lastError = '';
  readonly drops: Record<NicDropReason, number> = Object.fromEntries(
    NIC_DROP_REASONS.map((r) => [r, 0]),
  ) as Record<NicDropReason, number>;

  drop(reason: NicDropReason, frames = 1): void {
    this.drops[reason] += frames;
  }

  /** Total drops over all reasons. */
  dropped(): number {
    let sum = 0;
    for (const r of NIC_DROP_REASONS) sum += this.drops[r];
    return sum;
  }

  snapshot(): NicCountersSnapshot {
    return {
      rxFrames: this.rxFrames, rxBytes: this.rxBytes, txFrames: this.txFrames, txBytes: this.txBytes,
      lastError: this.lastError, drops: { ...this.drops },
    };
  }
}

export interface NicCountersSnapshot {
  readonly rxFrames: number;
  readonly rxBytes: number;
  readonly txFrames: number;
  readonly txBytes: number;
  readonly lastError: string;
  readonly drops: Readonly<Record<NicDropReason, number>>;
}

export type FrameDirection = 'rx' | 'tx';

/**
 * Sees every frame a backend receives (after its drop checks) and transmits
 * (that it accepted), e.g. a pcap writer. `frame` is a view into packet memory
 * valid only during the call; `timeMs` is wall-clock milliseconds since the epoch.
 */
export type FrameHook = (direction: FrameDirection, frame: Uint8Array, timeMs: number) => void;

/** Ethernet header length: destination, source, EtherType (IEEE 802.3). */
export const ETH_HEADER_LEN = 14;
/** Room for one 802.1Q tag on top of MTU + header. */
export const VLAN_TAG_LEN = 4;

export interface NicBackend {
  /** 'tap', 'udp', 'vxlan', 'qemu-stream', 'vswitch'. */
  readonly kind: string;
  /** Human-readable name: interface name, or local ↔ peer address. */
  readonly name: string;
  /** The MAC address the newtos host uses on this link (6 bytes). */
  readonly mac: Uint8Array;
  /** IP MTU of the link; frames carry up to mtu + 14 (+ 4 with a VLAN tag) bytes. */
  readonly mtu: number;
  readonly counters: NicCounters;
  /**
   * The link takes GSO super-frames (`FrameSlots.gsoSizes`) and segments them
   * itself, as a NIC with TSO does (TAP with IFF_VNET_HDR: the kernel cuts them,
   * or keeps them whole for its own stack). It may then also deliver super-frames
   * of up to MAX_SUPER_FRAME bytes, flagged RX_FLAG_SUPER_FRAME: receive slots
   * must hold that much.
   */
  readonly tso?: boolean;
  /**
   * With `tso`: may this super-frame go whole? (A virtual-switch port: only to a
   * port that takes them.) Absent: always. When false the driver cuts it first.
   */
  acceptsSuperFrame?(memory: Uint8Array, off: number, len: number): boolean;
  /**
   * The link takes TCP frames whose checksum is not filled (TX_FLAG_CSUM_PARTIAL):
   * it completes the checksum where a receiver needs it, as a NIC with checksum
   * offload does. Without it the driver completes the checksum itself.
   */
  readonly checksumOffload?: boolean;

  /**
   * Moves up to `max` received frames into slots 0..n-1 (lengths in
   * `slots.lengths`) and returns n. Never blocks; 0 when nothing is waiting.
   */
  receive(slots: FrameSlots, max: number): number;

  /**
   * Sends frames 0..count-1 of `slots` and returns how many it consumed
   * (sent or dropped with a counted reason). Fewer than `count` means the link
   * is full for now: the caller keeps the rest and retries later.
   */
  transmit(slots: FrameSlots, count: number): number;

  /**
   * Blocks the calling thread up to `timeoutMs` until frames may be waiting
   * (TAP: poll(2)). Only fd-backed links have it; a worker that owns such a link
   * may park here instead of spinning.
   */
  waitReadable?(timeoutMs: number): boolean;

  /**
   * Links that wake their owner themselves (a doorbell rung when frames
   * arrive: virtual-switch ports, I/O-bridged sockets, TAP with its waker):
   * the wall-clock ms at which `receive` next has a frame — at or before now
   * when one is waiting, Infinity when none is (the link will ring, once asked
   * with `aboutToPark`: the owner's last look before it parks, its sleeping flag
   * raised; a link that must be told to watch, TAP's waker, is told then). A link
   * without it can only be polled (`waitReadable(0)`).
   */
  nextDueMs?(aboutToPark?: boolean): number;

  /**
   * Event-driven links (sockets served by the event loop) call `listener` when
   * frames arrive after `receive` had returned 0. null removes it.
   */
  setReadableListener?(listener: (() => void) | null): void;

  /** Installs (or with null removes) a hook that sees every frame; for pcap capture. */
  setFrameHook(hook: FrameHook | null): void;

  /** Releases the link. Further calls throw. */
  close(): Promise<void>;
}

/** Wall-clock milliseconds with sub-millisecond precision, for capture timestamps. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/** A random locally administered unicast MAC (02:xx:xx:xx:xx:xx style). */
export function randomLocalMac(randomBytes: (n: number) => Uint8Array): Uint8Array {
  const mac = randomBytes(6).slice(0, 6);
  mac[0] = (mac[0]! & 0xfc) | 0x02; // IEEE 802: bit 1 locally administered, bit 0 unicast
  return mac;
}

/** "02:00:5e:10:00:01" → bytes; undefined if malformed. */
export function parseMac(text: string): Uint8Array | undefined {
  const mac = parseMacNumber(text);
  if (mac === null) return undefined;
  const bytes = new Uint8Array(6);
  writeMac(bytes, 0, mac);
  return bytes;
}

/** The first 6 bytes as "02:00:5e:10:00:01". */
export function formatMac(mac: Uint8Array): string {
  return formatMacNumber(readMac(mac, 0));
}
