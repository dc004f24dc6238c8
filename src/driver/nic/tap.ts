/**
 * Linux TAP device backend: the kernel is a peer on an Ethernet link.
 *
 * Node cannot issue ioctl(2), so a tiny N-API addon (native/tap.c, built by
 * `npm install`) opens /dev/net/tun (TUNSETIFF with IFF_TAP | IFF_NO_PI),
 * makes the fd non-blocking, and reads/writes batches of frames straight into
 * and out of the driver's packet memory. Everything about frames (drop checks,
 * counters, capture) is here in TypeScript.
 *
 * The device is not persistent: closing the fd removes it. It may be moved to
 * another network namespace (`ip link set X netns NS`) while open; the fd stays
 * attached. Only one thread should use one TapBackend; the addon is
 * context-aware, so each worker can load it and open its own device or queue.
 */
import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import { existsSync, readFileSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { NewtosError } from '../../errors.js';
import {
  ETH_HEADER_LEN, MAX_SUPER_FRAME, NicCounters, RX_FLAG_CSUM_VERIFIED, RX_FLAG_SUPER_FRAME, TX_FLAG_CSUM_PARTIAL, VLAN_TAG_LEN,
  randomLocalMac, wallClockMs,
  type FrameHook, type FrameSlots, type NicBackend,
} from './backend.js';
import { fold16, pseudoHeaderSum } from '../../wire/checksum.js';
import { TapWaker } from './tap-waker.js';
import {
  VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_LEN,
  completePartialChecksum, emitVirtioNetHdr, NO_OFFLOAD, parseVirtioNetHdr,
} from '../../wire/virtio-net.js';

/** The addon's surface (see native/tap.c for the exact contract). */
export interface TapAddon {
  open(name: string, flags: number): { fd: number; name: string };
  close(fd: number): void;
  setOffload(fd: number, tunFlags: number): void;
  setVnetHdrSize(fd: number, size: number): void;
  readBatch(fd: number, memory: Uint8Array, offsets: Uint32Array, capacity: number,
    lengths: Uint32Array, max: number, stats: Uint32Array, headers?: Uint8Array, hdrLen?: number): number;
  writeBatch(fd: number, memory: Uint8Array, offsets: Uint32Array, lengths: Uint32Array,
    count: number, stats: Uint32Array, headers?: Uint8Array, hdrLen?: number): number;
  /** poll(2) on fd (and fd2, whose revents come shifted left by 8). */
  wait(fd: number, events: number, timeoutMs: number, fd2?: number): number;
  /** A non-blocking eventfd: a wait() on it wakes when another thread writes 8 bytes to it. */
  eventfd(): number;
}

export const TAP_OPEN_VNET_HDR = 1;
export const TAP_OPEN_MULTI_QUEUE = 2;
export const WAIT_READABLE = 1;
export const WAIT_WRITABLE = 2;
export const WAIT_ERROR = 4;
/**
 * How often (ms) an owner that sleeps beside its device looks at it on passes that do not park
 * (TapBackend.sleepBeside): the most a frame waits while that loop is busy elsewhere.
 */
const LOOK_EVERY_MS = 0.05;
/** TUNSETOFFLOAD flags (linux/if_tun.h): what we accept from the kernel. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;

const ADDON_URL = new URL('../../../../native/build/Release/tap.node', import.meta.url);
const STATUS_URL = new URL('../../../../native/build/status.json', import.meta.url);

/**
 * Loads the addon, or throws NewtosError ERR_TAP_UNAVAILABLE saying why (not
 * Linux, build failed at install time and its reason, load error).
 * NEWTOS_TAP_ADDON overrides the path.
 */
export function loadTapAddon(): TapAddon {
  if (process.platform !== 'linux') {
    throw new NewtosError('ERR_TAP_UNAVAILABLE', `TAP devices need Linux; this is ${process.platform}`);
  }
  const path = process.env.NEWTOS_TAP_ADDON ?? fileURLToPath(ADDON_URL);
  if (!existsSync(path)) {
    let why = 'run `npm install` (or `node scripts/build-native.mjs`) to build it';
    try {
      const status = JSON.parse(readFileSync(STATUS_URL, 'utf8')) as { ok: boolean; reason: string };
      if (!status.ok) why = `its build failed at install time: ${status.reason}`;
    } catch {
      // no status file: the install script never ran
    }
    throw new NewtosError('ERR_TAP_UNAVAILABLE', `the TAP addon ${path} is missing (${why})`);
  }
  try {
    return createRequire(import.meta.url)(path) as TapAddon;
  } catch (e) {
    throw new NewtosError('ERR_TAP_UNAVAILABLE', `the TAP addon ${path} failed to load: ${(e as Error).message}`, { cause: e });
  }
}

export interface TapOptions {
  /** Interface name (≤ 15 bytes); empty or absent: the kernel picks tapN. */
  readonly name?: string;
  /** IP MTU the driver uses on this link (default 1500); set the kernel side with `ip link set mtu`. */
  readonly mtu?: number;
  /** MAC of the newtos host on this link; random locally administered if absent. */
  readonly mac?: Uint8Array;
  /** IFF_MULTI_QUEUE: several TapBackends may open the same name, one per queue. */
  readonly multiQueue?: boolean;
  /**
   * IFF_VNET_HDR with checksum offload and TSO (TUN_F_CSUM | TUN_F_TSO4): the
   * kernel may hand us IPv4 TCP super-frames up to 64 KiB with partial
   * checksums (we complete them), and we may hand it IPv4 TCP frames larger
   * than the MTU, which it cuts into MTU-sized segments (TSO). Receive slots
   * should then hold 65553 bytes.
   */
  readonly vnetHdr?: boolean;
  /** Injected addon (tests); loaded with loadTapAddon() if absent. */
  readonly addon?: TapAddon;
}

export class TapBackend implements NicBackend {
  readonly kind = 'tap';
  readonly name: string;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly counters = new NicCounters();
  /** The file descriptor of /dev/net/tun bound to this device. */
  readonly fd: number;
  private readonly addon: TapAddon;
  private readonly stats = new Uint32Array(4);
  private hook: FrameHook | null = null;
  private closed = false;
  /** IFF_VNET_HDR: a virtio-net header travels with every frame. */
  readonly vnetHdr: boolean;
  /** With IFF_VNET_HDR the kernel segments our super-frames (TSO) and sends us its own. */
  readonly tso: boolean;
  /** With IFF_VNET_HDR the kernel completes partial TCP checksums (NEEDS_CSUM). */
  readonly checksumOffload: boolean;
  /** Offload events (vnetHdr only). */
  readonly offload = { rxPartialChecksums: 0, rxSuperFrames: 0, txSuperFrames: 0 };
  private rxHeaders = new Uint8Array(0);
  private txHeaders = new Uint8Array(0);
  /** The waker thread (startWaker), if any: it rings the owner's doorbell when frames arrive. */
  private waker: TapWaker | null = null;
  /**
   * Present once a waker runs (NicBackend.nextDueMs): 0 when frames wait,
   * Infinity when none do. With `aboutToPark` (the owner's hasWork, its
   * sleeping flag raised) the waker is armed then and will ring; without it
   * nothing is armed (the owner's pollAt, on every pass: arming wakes the
   * waker's thread, which has no place on a frame's way through the loop).
   */
  nextDueMs?: (aboutToPark?: boolean) => number;
  /** When the device was last read or looked at (performance.now ms), for the sleeping-beside owner's pollAt. */
  private lookedAt = -Infinity;
  /** True once the owner's thread sleeps beside this device (sleepBeside). */
  sleepsBeside = false;
  /** The eventfd wakeEventFd made (-1: none yet). */
  private eventFd = -1;
  /** The last read filled every slot it was given: more frames very likely wait (no poll(2) needed to know). */
  private lastBatchFull = false;
  /** Scratch for transmit batches that contain frames to drop. */
  private scratchOffsets = new Uint32Array(0);
  private scratchLengths = new Uint32Array(0);
  private scratchGso = new Uint32Array(0);
  private scratchFlags = new Uint8Array(0);

  /** Closing this backend closes the fd (false for an adopted fd: its opener keeps it). */
  private readonly ownsFd: boolean;

  private constructor(addon: TapAddon, fd: number, name: string, mtu: number, mac: Uint8Array, vnetHdr: boolean, ownsFd = true) {
    this.ownsFd = ownsFd;
    this.vnetHdr = vnetHdr;
    this.tso = vnetHdr;
    this.checksumOffload = vnetHdr;
    this.addon = addon;
    this.fd = fd;
    this.name = name;
    this.mtu = mtu;
    this.mac = mac;
  }

  /** Opens (creates) the TAP device. Throws ERR_TAP_UNAVAILABLE or the errno code (EPERM, EBUSY...). */
  /**
   * A backend over a TAP fd another thread of this process opened with `open` (and
   * keeps): the stack opens its TAP devices in the application thread and hands the
   * fd to its driver server, so a restarted driver takes over the same device — its
   * kernel-side addresses, state, MAC and namespace survive the crash. `close` leaves
   * the fd open.
   */
  static adopt(options: { fd: number; name: string; mtu?: number; mac?: Uint8Array; vnetHdr: boolean; addon?: TapAddon }): TapBackend {
    const addon = options.addon ?? loadTapAddon();
    const mac = options.mac ?? randomLocalMac((n) => randomBytes(n));
    return new TapBackend(addon, options.fd, options.name, options.mtu ?? 1500, mac, options.vnetHdr, false);
  }

  static open(options: TapOptions = {}): TapBackend {
    const addon = options.addon ?? loadTapAddon();
    const mtu = options.mtu ?? 1500;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
      throw new NewtosError('ERR_INVALID_ARG_VALUE', `The argument 'mtu' must be an integer in 68..65535, got ${mtu}`);
    }
    const name = options.name ?? '';
    if (Buffer.byteLength(name) > 15) {
      throw new NewtosError('ERR_INVALID_ARG_VALUE', `The argument 'name' must be at most 15 bytes, got '${name}'`);
    }
    const vnet = options.vnetHdr === true;
    const flags = (options.multiQueue === true ? TAP_OPEN_MULTI_QUEUE : 0) | (vnet ? TAP_OPEN_VNET_HDR : 0);
    const { fd, name: actual } = addon.open(name, flags);
    try {
      // Without the header, clear what an earlier open with it left on a persistent device:
      // else the kernel keeps handing over frames with partial checksums (TCP then fails).
      addon.setOffload(fd, vnet ? TUN_F_CSUM | TUN_F_TSO4 : 0);
    } catch (e) {
      addon.close(fd);
      throw e;
    }
    const mac = options.mac ?? randomLocalMac((n) => randomBytes(n));
    return new TapBackend(addon, fd, actual, mtu, mac, vnet);
  }

  private maxFrame(): number {
    return this.mtu + ETH_HEADER_LEN + VLAN_TAG_LEN;
  }

  receive(slots: FrameSlots, max: number): number {
    this.assertOpen();
    const stats = this.stats;
    stats[0] = 0; stats[1] = 0;
    let n: number;
    if (this.vnetHdr) {
      if (this.rxHeaders.length < max * VIRTIO_NET_HDR_LEN) this.rxHeaders = new Uint8Array(max * VIRTIO_NET_HDR_LEN);
      n = this.addon.readBatch(this.fd, slots.memory, slots.offsets, slots.capacity, slots.lengths, max, stats,
        this.rxHeaders, VIRTIO_NET_HDR_LEN);
    } else {
      n = this.addon.readBatch(this.fd, slots.memory, slots.offsets, slots.capacity, slots.lengths, max, stats);
    }
    this.lastBatchFull = n >= max && max > 0;
    this.lookedAt = performance.now();
    if (stats[0]! > 0) this.counters.drop('rx-oversize', stats[0]);
    if (stats[1]! > 0) {
      this.counters.drop('rx-error', stats[1]);
      this.counters.lastError = errnoName(stats[2]!);
    }
    // Runts and frames over the MTU: drop and close up the gap (rare path).
    const maxFrame = this.maxFrame();
    let out = 0;
    for (let i = 0; i < n; i++) {
      const len = slots.lengths[i]!;
      let limit = maxFrame;
      let flags = 0;
      let gsoSize = 0;
      if (this.vnetHdr) {
        const h = parseVirtioNetHdr(this.rxHeaders, i * VIRTIO_NET_HDR_LEN);
        if (!h.ok) { this.counters.drop('rx-bad-encap'); continue; }
        if (h.value.gsoType !== VIRTIO_NET_HDR_GSO_NONE) {
          limit = MAX_SUPER_FRAME;
          flags |= RX_FLAG_SUPER_FRAME;
          gsoSize = h.value.gsoSize;
          this.offload.rxSuperFrames++;
        }
        if ((h.value.flags & VIRTIO_NET_HDR_F_DATA_VALID) !== 0) flags |= RX_FLAG_CSUM_VERIFIED;
        if ((h.value.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) {
          const at = slots.offsets[i]!;
          const { csumStart, csumOffset } = h.value;
          if (csumOffset === 16 && tcpHeaderAt(slots.memory, at, len) === csumStart) {
            // The kernel's own TCP segment, never off the machine: verified and left partial (as
            // Linux treats CHECKSUM_PARTIAL); IP has it completed should it forward the packet.
          } else if (!completePartialChecksum(slots.memory.subarray(at, at + len), len, csumStart, csumOffset)) {
            this.counters.drop('rx-bad-encap');
            continue;
          }
          flags |= RX_FLAG_CSUM_VERIFIED;
          this.offload.rxPartialChecksums++;
        }
      }
      if (len < ETH_HEADER_LEN || len > limit) {
        this.counters.drop(len < ETH_HEADER_LEN ? 'rx-runt' : 'rx-oversize');
        continue;
      }
      if (out !== i) {
        const from = slots.offsets[i]!;
        slots.memory.copyWithin(slots.offsets[out]!, from, from + len);
        slots.lengths[out] = len;
      }
      if (slots.flags !== undefined) slots.flags[out] = flags;
      if (slots.gsoSizes !== undefined) slots.gsoSizes[out] = gsoSize;
      this.counters.rxBytes += len;
      out++;
    }
    n = out;
    this.counters.rxFrames += n;
    if (this.hook !== null && n > 0) {
      const now = wallClockMs();
      for (let i = 0; i < n; i++) {
        const off = slots.offsets[i]!;
        this.hook('rx', slots.memory.subarray(off, off + slots.lengths[i]!), now);
      }
    }
    return n;
  }

  transmit(slots: FrameSlots, count: number): number {
    this.assertOpen();
    count = Math.min(count, slots.offsets.length, slots.lengths.length);
    const gsos = this.vnetHdr ? slots.gsoSizes : undefined;
    const txFlags = this.vnetHdr ? slots.txFlags : undefined;
    let bad = 0;
    for (let i = 0; i < count; i++) if (this.unsendable(slots, gsos, i)) bad++;
    if (bad === 0) return this.writeAll(slots.memory, slots.offsets, slots.lengths, gsos, txFlags, count);
    // Some frames must be dropped: send the good ones through scratch arrays,
    // mapping "consumed" back onto the caller's indices.
    if (this.scratchOffsets.length < count) {
      this.scratchOffsets = new Uint32Array(count);
      this.scratchLengths = new Uint32Array(count);
      this.scratchGso = new Uint32Array(count);
      this.scratchFlags = new Uint8Array(count);
    }
    let consumed = 0;
    while (consumed < count) {
      // Drop leading bad frames, then send the run of good ones after them.
      if (this.unsendable(slots, gsos, consumed)) {
        this.counters.drop(slots.lengths[consumed]! < ETH_HEADER_LEN ? 'tx-runt' : 'tx-oversize');
        consumed++;
        continue;
      }
      let run = 0;
      while (consumed + run < count && !this.unsendable(slots, gsos, consumed + run)) {
        this.scratchOffsets[run] = slots.offsets[consumed + run]!;
        this.scratchLengths[run] = slots.lengths[consumed + run]!;
        this.scratchGso[run] = gsos?.[consumed + run] ?? 0;
        this.scratchFlags[run] = txFlags?.[consumed + run] ?? 0;
        run++;
      }
      const sent = this.writeAll(slots.memory, this.scratchOffsets, this.scratchLengths, this.scratchGso, this.scratchFlags, run);
      consumed += sent;
      if (sent < run) break; // device full: the caller retries from `consumed`
    }
    return consumed;
  }

  /** A runt, or a frame over the MTU that is not a super-frame the kernel can segment. */
  private unsendable(slots: FrameSlots, gsos: Uint32Array | undefined, i: number): boolean {
    const len = slots.lengths[i]!;
    if (len < ETH_HEADER_LEN) return true;
    if (len <= this.maxFrame() && (gsos?.[i] ?? 0) === 0) return false;
    return !this.canSegment(slots.memory, slots.offsets[i]!, len);
  }

  private writeAll(
    memory: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, gsos: Uint32Array | undefined, txFlags: Uint8Array | undefined, count: number,
  ): number {
    const stats = this.stats;
    stats[0] = 0; stats[1] = 0; stats[3] = 0;
    let done: number;
    if (this.vnetHdr) {
      if (this.txHeaders.length < count * VIRTIO_NET_HDR_LEN) this.txHeaders = new Uint8Array(count * VIRTIO_NET_HDR_LEN);
      const maxFrame = this.maxFrame();
      for (let i = 0; i < count; i++) {
        const at = i * VIRTIO_NET_HDR_LEN;
        const gso = gsos?.[i] ?? 0;
        // A super-frame, or a TCP frame whose checksum the kernel is to fill (NEEDS_CSUM).
        const partial = ((txFlags?.[i] ?? 0) & TX_FLAG_CSUM_PARTIAL) !== 0 && tcpHeaderAt(memory, offsets[i]!, lengths[i]!) >= 0;
        if (gso > 0 || lengths[i]! > maxFrame || partial) this.prepareTso(memory, offsets[i]!, lengths[i]!, at, gso);
        else emitVirtioNetHdr(this.txHeaders, at, NO_OFFLOAD);
      }
      done = this.addon.writeBatch(this.fd, memory, offsets, lengths, count, stats, this.txHeaders, VIRTIO_NET_HDR_LEN);
    } else {
      done = this.addon.writeBatch(this.fd, memory, offsets, lengths, count, stats);
    }
    if (stats[1]! > 0) {
      this.counters.drop('tx-error', stats[1]);
      this.counters.lastError = errnoName(stats[2]!);
    }
    this.counters.txFrames += done - stats[1]!;
    this.counters.txBytes += stats[3]!;
    if (this.hook !== null && done > 0) {
      const now = wallClockMs();
      for (let i = 0; i < done; i++) {
        const off = offsets[i]!;
        this.hook('tx', memory.subarray(off, off + lengths[i]!), now);
      }
    }
    return done;
  }

  /** With IFF_VNET_HDR, an IPv4 TCP frame over the MTU goes to the kernel for TSO. */
  private canSegment(m: Uint8Array, off: number, len: number): boolean {
    if (!this.vnetHdr || len > MAX_SUPER_FRAME) return false;
    const tcpAt = tcpHeaderAt(m, off, len);
    if (tcpAt < 0) return false;
    const thl = (m[off + tcpAt + 12]! >> 4) * 4;
    return this.mtu - (tcpAt - ETH_HEADER_LEN) - thl > 0 && tcpAt + thl < len;
  }

  /**
   * virtio-net header for TSO of the IPv4 TCP frame at memory[off, off+len):
   * GSO TCPV4 with gso_size `mss` (0: MTU - headers), and a partial checksum —
   * the TCP checksum field is set to the folded pseudo-header sum (Linux's
   * CHECKSUM_PARTIAL convention), which the kernel completes, or adjusts per
   * segment when it segments. A frame whose payload fits one segment goes
   * without GSO (the kernel would not treat it as GSO either). Rewrites the
   * frame's TCP checksum field in place.
   */
  private prepareTso(m: Uint8Array, off: number, len: number, at: number, mss: number): void {
    const ihl = (m[off + 14]! & 0x0f) * 4;
    const tcpAt = ETH_HEADER_LEN + ihl;
    const thl = (m[off + tcpAt + 12]! >> 4) * 4;
    const v = new DataView(m.buffer, m.byteOffset + off, len);
    const pseudo = fold16(pseudoHeaderSum(v.getUint32(26), v.getUint32(30), 6, len - tcpAt));
    v.setUint16(tcpAt + 16, pseudo);
    const gsoSize = mss > 0 ? mss : this.mtu - ihl - thl;
    const segmented = len - tcpAt - thl > gsoSize;
    emitVirtioNetHdr(this.txHeaders, at, {
      flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: segmented ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_NONE,
      hdrLen: tcpAt + thl, gsoSize: segmented ? gsoSize : 0, csumStart: tcpAt, csumOffset: 16,
    });
    if (segmented) this.offload.txSuperFrames++;
  }

  /** poll(2) for readability up to timeoutMs (0: just check). */
  waitReadable(timeoutMs: number): boolean {
    this.assertOpen();
    return (this.addon.wait(this.fd, WAIT_READABLE, Math.max(0, Math.floor(timeoutMs))) & WAIT_READABLE) !== 0;
  }

  /** poll(2) for writability (the device's queue has room) up to timeoutMs. */
  waitWritable(timeoutMs: number): boolean {
    this.assertOpen();
    return (this.addon.wait(this.fd, WAIT_WRITABLE, Math.max(0, Math.floor(timeoutMs))) & WAIT_WRITABLE) !== 0;
  }

  /**
   * Starts a waker thread (tap-waker.ts) that rings `doorbell` when frames
   * arrive, so the owner may park on it instead of polling the device; then
   * `nextDueMs` says whether frames wait. Rejects if the thread cannot start
   * (the device still works, polled). With `wait: false` it returns at once and
   * the device is polled every millisecond until the thread runs (a driver's
   * successor does not wait for a thread start).
   */
  async startWaker(doorbell: SharedArrayBuffer, options: { readonly wait?: boolean } = {}): Promise<void> {
    this.assertOpen();
    if (this.waker !== null) return;
    const waker = TapWaker.spawn(this.fd, doorbell);
    if (options.wait !== false) await waker.ready;
    this.waker = waker;
    this.nextDueMs = (aboutToPark = false): number => {
      // Not watching yet (its thread is starting, or could not start): look again in 1 ms.
      if (!waker.running) return this.lastBatchFull || this.waitReadable(0) ? 0 : wallClockMs() + 1;
      // Look at the device even while the waker watches it: an owner that spins
      // after work (server-loop.ts replySpinUs) then takes the next frame at once
      // instead of after the waker's own wake-up. One poll(2) with no timeout.
      // After a batch that filled every slot no poll is needed: more is due (under a
      // 200k frames/s SYN flood the poll took a quarter of the driver's time).
      if (this.lastBatchFull) return 0;
      if (this.waitReadable(0)) return 0;
      if (aboutToPark && !waker.armed) waker.arm();
      return Infinity;
    };
  }

  /**
   * Instead of a waker thread: the owner's thread sleeps in poll(2) on this device and on
   * `eventFd` (ServerContext.sleepBeside), so a frame wakes it straight from the kernel and
   * a ring from another thread through the eventfd. False (nothing changed) if the thread
   * sleeps beside something else already; the caller then starts a waker.
   */
  sleepBeside(sleepBeside: (wait: (timeoutMs: number) => boolean, eventFd: number) => boolean, eventFd: number): boolean {
    this.assertOpen();
    if (this.waker !== null || this.sleepsBeside) return false;
    const addon = this.addon;
    const fd = this.fd;
    const drain = new Uint8Array(8);
    const wait = (timeoutMs: number): boolean => {
      // Whole ms, rounded up: a wait of 0 would return at once and the loop would spin.
      const r = addon.wait(fd, WAIT_READABLE, Math.max(1, Math.ceil(timeoutMs)), eventFd);
      if (((r >>> 8) & (WAIT_READABLE | WAIT_ERROR)) !== 0) {
        try { readSync(eventFd, drain); } catch { /* EAGAIN: another wake drained it */ }
      }
      return r !== 0;
    };
    if (!sleepBeside(wait, eventFd)) return false;
    this.sleepsBeside = true;
    // About to park: no look, the park's poll(2) on the device returns at once if a frame
    // waits. On the loop's other passes (pollAt: several per request on an idle host, a poll(2)
    // each, 8 % of the thread's time outside its parks in a profile of 300 fetches, monolithic),
    // look at most every LOOK_EVERY_MS since the last look or read: a busy loop that never parks
    // still takes a frame within that, and an idle one is woken by the device itself.
    this.nextDueMs = (aboutToPark = false): number => {
      if (this.lastBatchFull) return 0;
      if (aboutToPark) return Infinity;
      const now = performance.now();
      if (now - this.lookedAt < LOOK_EVERY_MS) return Infinity;
      this.lookedAt = now;
      return this.waitReadable(0) ? 0 : Infinity;
    };
    return true;
  }

  /**
   * An eventfd that lives as long as this handle (made on the first call, closed by close()):
   * the one a driver thread sleeping beside a device is woken through (sleepBeside). Made
   * where the devices are opened and kept, so it outlives every driver thread and ringer.
   * -1 with an addon that cannot make one.
   */
  wakeEventFd(): number {
    this.assertOpen();
    // An addon built before eventfd() existed: no eventfd, the driver keeps its waker thread.
    if (this.eventFd < 0 && typeof this.addon.eventfd === 'function') this.eventFd = this.addon.eventfd();
    return this.eventFd;
  }

  /** Doorbell rings sent by the waker (0 without one). */
  get wakerRings(): number {
    return this.waker?.rings ?? 0;
  }

  setFrameHook(hook: FrameHook | null): void {
    this.hook = hook;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const waker = this.waker;
    this.waker = null;
    if (waker !== null) {
      // Stop it before the fd goes away (it may sit in poll(2) on it until its timeout).
      waker.stop();
      for (let i = 0; i < 40 && !waker.stopped; i++) await new Promise((r) => setTimeout(r, 10));
      if (!waker.stopped) await waker.terminate();
    }
    if (this.ownsFd) this.addon.close(this.fd);
    if (this.eventFd >= 0) { this.addon.close(this.eventFd); this.eventFd = -1; }
  }

  private assertOpen(): void {
    if (this.closed) throw new NewtosError('ERR_NIC_CLOSED', `TAP ${this.name} is closed`);
  }
}

/**
 * Where the TCP header of the untagged IPv4 frame m[off, off + len) starts (from the
 * frame's start), or -1 when it is not such a frame with whole IPv4 and TCP headers.
 */
function tcpHeaderAt(m: Uint8Array, off: number, len: number): number {
  if (len < ETH_HEADER_LEN + 40 || m[off + 12] !== 0x08 || m[off + 13] !== 0x00 || m[off + 23] !== 6) return -1;
  const ihl = (m[off + 14]! & 0x0f) << 2;
  const tcpAt = ETH_HEADER_LEN + ihl;
  if (ihl < 20 || tcpAt + 20 > len) return -1;
  const thl = (m[off + tcpAt + 12]! >> 4) << 2;
  return thl >= 20 && tcpAt + thl <= len ? tcpAt : -1;
}

const ERRNO_NAMES = new Map(Object.entries(osConstants.errno).map(([name, no]) => [no, name]));

function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}
