/**
 * The in-process virtual switch: any number of newtos hosts (in any threads)
 * on one Ethernet segment in shared memory, needing no privileges.
 *
 * There is no switch thread. Each port's own driver does its share of the
 * switching when it transmits: it learns its frames' source MACs into its own
 * row of a shared MAC table, looks the destination up in every port's row, and
 * copies the frame into the one-way pipe from itself to that port (every
 * destination when the MAC is a group address or not yet known: flooding).
 * A pipe is an SPSC byte ring (src/abi/byte-ring.ts) per ordered pair of
 * ports, so every ring still has exactly one producer and one consumer.
 *
 * Each frame is a record in the pipe, padded to a multiple of 8 bytes:
 *   +0 u32 frame length | +4 u32 flags (bit 0: reorder; bit 1: TCP checksum
 *   partial; bit 2: GSO super-frame; bits 8-10: pad; bits 16-31: its segment size) |
 *   +8 f64 deliver-at (wall-clock ms) | pad bytes | frame bytes | fill to 8.
 * The pad keeps the frame at the address residue (mod 8) it had in the
 * sender's memory, and the receiver places it at that residue in its slot:
 * copies between shared buffers run many times faster when both ends agree
 * modulo 8, and TCP places payloads so they agree with its rings.
 * The receiving port copies due records straight into its pool slots. So a
 * frame is copied twice across the switch, as a NIC's DMA out and in would.
 *
 * Checksum offload, as virtio-net's CSUM / GUEST_CSUM: a port attached with
 * `checksumOffload` sends TCP frames whose checksum is not filled
 * (TX_FLAG_CSUM_PARTIAL) and receives such frames marked verified
 * (RX_FLAG_CSUM_VERIFIED): the bytes never left memory, so nothing could
 * corrupt them. For a receiver without it, the sender completes the checksum
 * before the copy.
 *
 * Segmentation offload, as virtio-net's GSO: a port attached with `tso` takes
 * TCP bursts of up to 64 KiB whole (FrameSlots.gsoSizes) when the destination
 * port also has `tso` (acceptsSuperFrame tells the sender's driver, which cuts
 * the burst itself otherwise), and receives them whole, flagged
 * RX_FLAG_SUPER_FRAME, into receive slots that must hold 64 KiB.
 *
 * Impairments, for tests, decided by the sender with a seeded RNG: loss (drop),
 * delay (deliver-at in the future), link rate (deliver-at paced by
 * serialisation time, so a full pipe pushes back on the sender), and
 * reordering (the receiver holds a marked frame back until the next one has
 * been delivered, or 1 ms has passed).
 *
 * Shared memory and who writes what:
 *   control SAB (Int32 words):
 *     [0] magic  [1] ports  [2] mtu  [3] ring capacity   (written once at create)
 *     per port p at PORT_BASE + p * PORT_WORDS:
 *       +0  MAC-table generation   (written only by port p: Atomics.add after a change)
 *       +1  MAC count             (only port p)
 *       +2.. MAC entries, 2 words each (only port p; published by the count/generation store)
 *       +40 1 when port p takes partial checksums (only port p, at attach)
 *       +41 1 when port p takes GSO super-frames (only port p, at attach)
 *   rings SAB: ring (i → j) at ringIndex(i, j) * ringStride.
 *   doorbells: one substrate doorbell (src/substrate/doorbell.ts) per port. A
 *     sender rings port p's after a batch; p parks on it. The driver that owns
 *     port p may use that same doorbell as its server doorbell, so one park
 *     waits for both its rings and the switch.
 * A port's MACs are read by other ports whenever the sum of generations moved.
 */
import { align64 } from '../../abi/socket-block.js';
import { NewtosError, invalidArg } from '../../errors.js';
import { SeededRng, type Rng } from '../../random/rng.js';
import { ByteRing } from '../../abi/byte-ring.js';
import { DoorbellRinger, DoorbellSleeper, createDoorbell } from '../../substrate/doorbell.js';
import { Impairment, checkImpairments, type LinkImpairments } from './impairment.js';
import {
  ETH_HEADER_LEN, MAX_SUPER_FRAME, NicCounters, RX_FLAG_CSUM_VERIFIED, RX_FLAG_SUPER_FRAME, TX_FLAG_CSUM_PARTIAL, VLAN_TAG_LEN, wallClockMs,
  type FrameHook, type FrameSlots, type NicBackend,
} from './backend.js';
import { fillFrameTcpChecksum } from '../offload.js';

const MAGIC = 0x56535754; // 'VSWT'
const H_MAGIC = 0;
const H_PORTS = 1;
const H_MTU = 2;
const H_RING = 3;
const PORT_BASE = 16;
const MAX_MACS = 16;
const P_GEN = 0;
const P_COUNT = 1;
const P_MACS = 2;
const P_CSUM_OFFLOAD = 40;
const P_TSO = 41;
const PORT_WORDS = 48; // 2 + 2 * MAX_MACS, rounded up to whole 64-byte lines

const REC_HEADER = 16;
const FLAG_REORDER = 1;
const FLAG_CSUM_PARTIAL = 2;
const FLAG_SUPER = 4;
const GSO_SHIFT = 16;
const PAD_SHIFT = 8;

/** The segment size of a super-frame record (its flags word), 0 for an ordinary frame. */
function gsoSizeOf(flags: number): number {
  return (flags & FLAG_SUPER) !== 0 ? flags >>> GSO_SHIFT : 0;
}

/** Bytes a record takes in a pipe: header, pad, frame, filled to a multiple of 8. */
function recordLen(frameLen: number, pad: number): number {
  return (REC_HEADER + pad + frameLen + 7) & ~7;
}
/** How long a held-back (reordered) frame waits for a successor at most. */
const REORDER_HOLD_MS = 1;

/** The switch's impairments (impairment.ts; duplication is not offered here). */
export type VswitchImpairments = Omit<LinkImpairments, 'duplicate'>;

export interface VswitchOptions {
  readonly ports: number;
  /** IP MTU of the segment, 68..65535 (default 1500). */
  readonly mtu?: number;
  /** Bytes of each one-way pipe (default: room for 64 full frames, at least 256 KiB; 1 MiB up to 8 ports). */
  readonly ringBytes?: number;
  readonly impairments?: VswitchImpairments;
  /**
   * Two ports only: a point-to-point link (a program's frame link, src/app/frame-link.ts).
   * Broadcast and unknown-destination frames then push back on a full pipe as unicast
   * ones do, instead of being dropped ('tx-egress-full') as a flooding switch does.
   */
  readonly pointToPoint?: boolean;
}

/** Plain data: post it to a worker and attach a port there. */
export interface VswitchDescriptor {
  readonly control: SharedArrayBuffer;
  readonly rings: SharedArrayBuffer;
  readonly ports: number;
  readonly mtu: number;
  readonly ringCapacity: number;
  readonly impairments: VswitchImpairments;
  /** Port p's doorbell: rung by senders to p, parked on by p's owner. */
  readonly doorbells: readonly SharedArrayBuffer[];
  /** VswitchOptions.pointToPoint. */
  readonly pointToPoint?: boolean;
}

function ringStride(capacity: number): number {
  return align64(ByteRing.bytesNeeded(capacity));
}

function ringIndex(ports: number, from: number, to: number): number {
  return from * (ports - 1) + (to < from ? to : to - 1);
}

/** Creates the shared memory of a switch. */
export function createVswitch(options: VswitchOptions): VswitchDescriptor {
  const ports = options.ports;
  if (!Number.isInteger(ports) || ports < 2 || ports > 64) throw invalidArg('ports', 'must be an integer in 2..64');
  const mtu = options.mtu ?? 1500;
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw invalidArg('mtu', 'must be an integer in 68..65535');
  const maxRecord = recordLen(mtu + ETH_HEADER_LEN + VLAN_TAG_LEN, 7);
  // Room for 64 full frames, and for a dozen 64 KiB super-frames between a few ports (segmentation offload).
  const ringCapacity = options.ringBytes ?? Math.max(256 * 1024, 64 * maxRecord, ports <= 8 ? 1024 * 1024 : 0);
  if (!Number.isInteger(ringCapacity) || ringCapacity < maxRecord) {
    throw invalidArg('ringBytes', `must hold at least one full frame (${maxRecord} bytes)`);
  }
  const imp = options.impairments ?? {};
  if ((imp as LinkImpairments).duplicate !== undefined) throw invalidArg('impairments.duplicate', 'is not offered by the virtual switch');
  checkImpairments(imp);
  const control = new SharedArrayBuffer((PORT_BASE + ports * PORT_WORDS) * 4);
  const words = new Int32Array(control);
  words[H_PORTS] = ports;
  words[H_MTU] = mtu;
  words[H_RING] = ringCapacity;
  Atomics.store(words, H_MAGIC, MAGIC);
  const rings = new SharedArrayBuffer(ports * (ports - 1) * ringStride(ringCapacity));
  const doorbells = Array.from({ length: ports }, () => createDoorbell());
  if (options.pointToPoint === true && ports !== 2) throw invalidArg('pointToPoint', 'needs exactly 2 ports');
  return { control, rings, ports, mtu, ringCapacity, impairments: { ...imp }, doorbells, ...(options.pointToPoint === true ? { pointToPoint: true } : {}) };
}

export type VswitchPortOptions = {
  /** MAC of the host on this port; published to the MAC table at once. */
  readonly mac: Uint8Array;
  /** Override of the impairment RNG (tests). */
  readonly rng?: Rng;
  /**
   * Take TCP frames with unfilled checksums both ways (default false): transmit
   * accepts TX_FLAG_CSUM_PARTIAL, and such frames from other ports arrive flagged
   * RX_FLAG_CSUM_VERIFIED instead of completed by their sender.
   */
  readonly checksumOffload?: boolean;
  /**
   * Take GSO super-frames both ways (default false): transmit accepts TCP bursts
   * up to 64 KiB for ports that also have it, and such bursts from other ports
   * arrive whole (RX_FLAG_SUPER_FRAME): receive slots must then hold MAX_SUPER_FRAME.
   */
  readonly tso?: boolean;
};

/** One host's port on a switch: a NicBackend, usable in the thread that attached it. */
export class VswitchPort implements NicBackend {
  readonly kind = 'vswitch';
  readonly name: string;
  readonly mtu: number;
  readonly mac: Uint8Array;
  readonly counters = new NicCounters();
  readonly checksumOffload: boolean;
  readonly tso: boolean;
  /** Partial checksums this port completed for a receiver without offload. */
  checksumsCompleted = 0;
  private readonly words: Int32Array;
  private readonly ports: number;
  private readonly pointToPoint: boolean;
  private readonly out: (ByteRing | undefined)[] = [];
  private readonly in: (ByteRing | undefined)[] = [];
  private readonly impairment: Impairment;
  private readonly header = new Uint8Array(REC_HEADER);
  private readonly headerView = new DataView(this.header.buffer);
  /** Ports to wake at the end of a transmit batch (one doorbell per batch). */
  private readonly bells: Uint8Array;
  private readonly ringers: DoorbellRinger[];
  private readonly sleeper: DoorbellSleeper;
  private hook: FrameHook | null = null;
  private closed = false;
  /** Known MAC (as a 48-bit number) → port, rebuilt when generations move. */
  private macCache = new Map<number, number>();
  private macCacheGen = -1;
  /** Round-robin start among input pipes. */
  private nextIn = 0;
  /** A reordered frame held back: copy and when it was held. */
  private held: { frame: Uint8Array; since: number; rxFlags: number; gsoSize: number } | null = null;
  private listener: (() => void) | null = null;
  private listening = false;

  constructor(readonly descriptor: VswitchDescriptor, readonly port: number, options: VswitchPortOptions) {
    const words = new Int32Array(descriptor.control);
    if (Atomics.load(words, H_MAGIC) !== MAGIC) throw new NewtosError('ERR_VSWITCH_BAD_MEMORY', 'not a virtual switch');
    if (!Number.isInteger(port) || port < 0 || port >= descriptor.ports) {
      throw invalidArg('port', `must be in 0..${descriptor.ports - 1}`);
    }
    this.words = words;
    this.ports = descriptor.ports;
    this.pointToPoint = descriptor.pointToPoint === true && descriptor.ports === 2;
    this.bells = new Uint8Array(descriptor.ports);
    this.ringers = descriptor.doorbells.map((d) => new DoorbellRinger(d));
    this.sleeper = new DoorbellSleeper(descriptor.doorbells[port]!);
    this.mtu = descriptor.mtu;
    this.mac = options.mac.slice(0, 6);
    this.name = `vswitch port ${port}`;
    this.impairment = new Impairment(descriptor.impairments,
      options.rng ?? new SeededRng(((descriptor.impairments.seed ?? 1) * 7919 + port) >>> 0));
    const stride = ringStride(descriptor.ringCapacity);
    for (let other = 0; other < this.ports; other++) {
      if (other === port) { this.out.push(undefined); this.in.push(undefined); continue; }
      this.out.push(new ByteRing(descriptor.rings, ringIndex(this.ports, port, other) * stride, descriptor.ringCapacity));
      this.in.push(new ByteRing(descriptor.rings, ringIndex(this.ports, other, port) * stride, descriptor.ringCapacity));
    }
    this.checksumOffload = options.checksumOffload === true;
    Atomics.store(words, this.base(port) + P_CSUM_OFFLOAD, this.checksumOffload ? 1 : 0);
    this.tso = options.tso === true;
    Atomics.store(words, this.base(port) + P_TSO, this.tso ? 1 : 0);
    this.learn(this.mac);
  }

  /** Does port p take partial checksums? */
  private takesPartial(p: number): boolean {
    return Atomics.load(this.words, this.base(p) + P_CSUM_OFFLOAD) === 1;
  }

  /**
   * May the GSO super-frame at memory[off, off + len) go whole (FrameSlots.gsoSizes)?
   * Only to a known unicast destination whose port takes super-frames; otherwise the
   * caller cuts it into frames first.
   */
  acceptsSuperFrame(memory: Uint8Array, off: number, len: number): boolean {
    if (!this.tso || len > MAX_SUPER_FRAME || len < ETH_HEADER_LEN || (memory[off]! & 1) !== 0) return false;
    const dest = this.lookup(memory, off);
    return dest !== undefined && dest !== this.port && Atomics.load(this.words, this.base(dest) + P_TSO) === 1;
  }

  /** Fills the TCP checksum of a partial frame before it goes to a port that needs it. */
  private complete(mem: Uint8Array, off: number, len: number): void {
    if (fillFrameTcpChecksum(mem, off, len)) this.checksumsCompleted++; // not TCP/IPv4: nothing was left partial
  }

  private base(p: number): number {
    return PORT_BASE + p * PORT_WORDS;
  }

  // ---- MAC table ------------------------------------------------------

  /** Adds a unicast source MAC to this port's row (single writer: this port). */
  private learn(mac: Uint8Array, at = 0): void {
    if ((mac[at]! & 1) !== 0) return; // group addresses are never sources
    const key = macKey(mac, at);
    if (this.macCache.get(key) === this.port) return;
    const b = this.base(this.port);
    const count = Atomics.load(this.words, b + P_COUNT);
    for (let i = 0; i < count; i++) {
      if (entryKey(this.words, b + P_MACS + 2 * i) === key) return;
    }
    // Full row: overwrite entries round-robin (oldest first).
    const slot = count < MAX_MACS ? count : Atomics.load(this.words, b + P_GEN) % MAX_MACS;
    this.words[b + P_MACS + 2 * slot] = Math.floor(key / 2 ** 32);
    this.words[b + P_MACS + 2 * slot + 1] = key % 2 ** 32 | 0;
    if (count < MAX_MACS) Atomics.store(this.words, b + P_COUNT, count + 1);
    Atomics.add(this.words, b + P_GEN, 1);
  }

  private lookup(mac: Uint8Array, at: number): number | undefined {
    let gen = 0;
    for (let p = 0; p < this.ports; p++) gen += Atomics.load(this.words, this.base(p) + P_GEN);
    if (gen !== this.macCacheGen) {
      const cache = new Map<number, number>();
      for (let p = 0; p < this.ports; p++) {
        const b = this.base(p);
        const count = Atomics.load(this.words, b + P_COUNT);
        for (let i = 0; i < count; i++) cache.set(entryKey(this.words, b + P_MACS + 2 * i), p);
      }
      this.macCache = cache;
      this.macCacheGen = gen;
    }
    return this.macCache.get(macKey(mac, at));
  }

  // ---- transmit -------------------------------------------------------

  transmit(slots: FrameSlots, count: number): number {
    this.assertOpen();
    const limit = Math.min(count, slots.offsets.length, slots.lengths.length);
    const maxFrame = this.mtu + ETH_HEADER_LEN + VLAN_TAG_LEN;
    const now = wallClockMs();
    const bells = this.bells;
    let i = 0;
    for (; i < limit; i++) {
      const off = slots.offsets[i]!;
      const len = slots.lengths[i]!;
      if (len < ETH_HEADER_LEN) { this.counters.drop('tx-runt'); continue; }
      const mem = slots.memory;
      const gso = slots.gsoSizes?.[i] ?? 0;
      // A super-frame only to a port that takes it (the driver asked acceptsSuperFrame).
      if (gso > 0 ? gso > 0xffff || !this.acceptsSuperFrame(mem, off, len) : len > maxFrame) { this.counters.drop('tx-oversize'); continue; }
      this.learn(mem, off + 6);
      // A point-to-point link (a program's frame link): a flooded frame has one destination and
      // waits for room like a unicast one instead of being dropped.
      const dest = this.pointToPoint ? this.p2pDest(mem, off) : (mem[off]! & 1) !== 0 ? undefined : this.lookup(mem, off);
      if (dest === this.port) continue; // addressed to ourselves: a switch does not hairpin
      const pad = (mem.byteOffset + off) & 7;
      const need = recordLen(len, pad);
      if (dest !== undefined && this.out[dest]!.freeSpace() < need) break; // pipe full: back-pressure
      const imp = this.impairment;
      if (imp.lose()) {
        this.counters.drop('tx-link-loss');
        continue;
      }
      const deliverAt = imp.deliverAt(len, now);
      // Unfilled TCP checksum: a partial frame from an offload port, or any super-frame (a TSO burst).
      let partial = gso > 0 || (this.checksumOffload && ((slots.txFlags?.[i] ?? 0) & TX_FLAG_CSUM_PARTIAL) !== 0);
      if (partial) {
        let all = this.checksumOffload;
        if (dest !== undefined) all = all && this.takesPartial(dest);
        else for (let p = 0; p < this.ports && all; p++) if (p !== this.port && !this.takesPartial(p)) all = false;
        if (!all) { this.complete(mem, off, len); partial = false; }
      }
      const flags = (imp.reorder() ? FLAG_REORDER : 0) | (partial ? FLAG_CSUM_PARTIAL : 0) | (pad << PAD_SHIFT) | (gso > 0 ? FLAG_SUPER | (gso << GSO_SHIFT) : 0);
      this.headerView.setUint32(0, len, true);
      this.headerView.setUint32(4, flags, true);
      this.headerView.setFloat64(8, deliverAt, true);
      const frame = mem.subarray(off, off + len);
      if (dest !== undefined) {
        this.put(this.out[dest]!, frame, pad, need);
        bells[dest] = 1;
      } else {
        for (let p = 0; p < this.ports; p++) {
          if (p === this.port) continue;
          const ring = this.out[p]!;
          if (ring.freeSpace() < need) { this.counters.drop('tx-egress-full'); continue; }
          this.put(ring, frame, pad, need);
          bells[p] = 1;
        }
      }
      this.counters.txFrames++;
      this.counters.txBytes += len;
      if (this.hook !== null) this.hook('tx', frame, now);
    }
    for (let p = 0; p < this.ports; p++) {
      if (bells[p] === 0) continue;
      bells[p] = 0;
      this.ringers[p]!.ring();
    }
    return i;
  }

  /** Two ports: the other port, or this one for a frame addressed to a MAC learned here (not hairpinned). */
  private p2pDest(mem: Uint8Array, off: number): number {
    const other = 1 - this.port;
    if ((mem[off]! & 1) !== 0) return other;
    return this.lookup(mem, off) ?? other;
  }

  private put(ring: ByteRing, frame: Uint8Array, pad: number, need: number): void {
    ring.writeAt(0, this.header);
    ring.writeAt(REC_HEADER + pad, frame);
    ring.advanceTail(need);
  }

  // ---- receive --------------------------------------------------------

  receive(slots: FrameSlots, max: number): number {
    this.assertOpen();
    const limit = Math.min(max, slots.offsets.length, slots.lengths.length);
    const now = wallClockMs();
    let n = 0;
    const deliverHeld = (): void => {
      const held = this.held!;
      this.held = null;
      if (held.frame.length > slots.capacity) { this.counters.drop('rx-oversize'); return; }
      slots.memory.set(held.frame, slots.offsets[n]!);
      if (slots.gsoSizes !== undefined) slots.gsoSizes[n] = held.gsoSize;
      this.accept(slots, n++, held.frame.length, now, held.rxFlags);
    };
    if (this.held !== null && now - this.held.since >= REORDER_HOLD_MS && n < limit) deliverHeld();
    for (let k = 0; k < this.ports && n < limit; k++) {
      const from = (this.nextIn + k) % this.ports;
      const ring = this.in[from];
      if (ring === undefined) continue;
      while (n < limit && ring.available() >= REC_HEADER) {
        ring.copyOut(0, this.header);
        const len = this.headerView.getUint32(0, true);
        const flags = this.headerView.getUint32(4, true);
        if (this.headerView.getFloat64(8, true) > now) break; // not due yet (FIFO per pipe)
        const pad = (flags >>> PAD_SHIFT) & 7;
        const rxFlags = ((flags & FLAG_CSUM_PARTIAL) !== 0 ? RX_FLAG_CSUM_VERIFIED : 0) | ((flags & FLAG_SUPER) !== 0 ? RX_FLAG_SUPER_FRAME : 0);
        if ((flags & FLAG_REORDER) !== 0 && this.held === null) {
          const frame = new Uint8Array(len);
          ring.copyOut(REC_HEADER + pad, frame);
          ring.consume(recordLen(len, pad));
          this.held = { frame, since: now, rxFlags, gsoSize: gsoSizeOf(flags) };
          continue;
        }
        if (len > slots.capacity) {
          this.counters.drop('rx-oversize');
        } else {
          // Keep the sender's address residue when the slot has room for the shift.
          const base = slots.offsets[n]!;
          const shift = (pad - (slots.memory.byteOffset + base)) & 7;
          const at = len + shift <= slots.capacity ? base + shift : base;
          slots.offsets[n] = at;
          ring.copyOut(REC_HEADER + pad, slots.memory, at, len);
          if (slots.gsoSizes !== undefined) slots.gsoSizes[n] = gsoSizeOf(flags);
          this.accept(slots, n++, len, now, rxFlags);
          if (this.held !== null && n < limit) deliverHeld();
        }
        ring.consume(recordLen(len, pad));
      }
    }
    this.nextIn = (this.nextIn + 1) % this.ports;
    return n;
  }

  private accept(slots: FrameSlots, i: number, len: number, now: number, rxFlags: number): void {
    slots.lengths[i] = len;
    if (slots.flags !== undefined) slots.flags[i] = rxFlags;
    this.counters.rxFrames++;
    this.counters.rxBytes += len;
    if (this.hook !== null) {
      const off = slots.offsets[i]!;
      this.hook('rx', slots.memory.subarray(off, off + len), now);
    }
  }

  /**
   * When frames are waiting but not yet due (delay, rate, a held reordered
   * frame): the wall-clock ms at which the earliest becomes due; 0 if one is
   * due now; Infinity if the input pipes are empty.
   */
  nextDueMs(): number {
    let due = this.held === null ? Infinity : this.held.since + REORDER_HOLD_MS;
    for (const ring of this.in) {
      if (ring === undefined || ring.available() < REC_HEADER) continue;
      ring.copyOut(0, this.header);
      due = Math.min(due, this.headerView.getFloat64(8, true));
    }
    return due;
  }

  /**
   * Blocks (Atomics.wait on the port's doorbell) up to timeoutMs until a frame
   * is due; true if one is.
   */
  waitReadable(timeoutMs: number): boolean {
    this.assertOpen();
    const deadline = wallClockMs() + timeoutMs;
    for (;;) {
      const now = wallClockMs();
      const due = this.nextDueMs();
      if (due <= now) return true;
      const wait = Math.min(deadline, due) - now;
      if (wait <= 0) return false;
      this.sleeper.park(wait, () => this.nextDueMs() > wallClockMs());
    }
  }

  /**
   * For a port served by an event loop: `listener` runs when frames may be
   * due (parks with Atomics.waitAsync; keeps the thread alive while set).
   */
  setReadableListener(listener: (() => void) | null): void {
    this.listener = listener;
    if (listener !== null && !this.listening) void this.listen();
  }

  private async listen(): Promise<void> {
    this.listening = true;
    try {
      while (this.listener !== null && !this.closed) {
        const now = wallClockMs();
        const due = this.nextDueMs();
        if (due <= now) {
          this.listener();
          await new Promise((r) => setImmediate(r));
          continue;
        }
        await this.sleeper.parkAsync(due === Infinity ? 1000 : due - now, () => this.nextDueMs() > wallClockMs());
      }
    } finally {
      this.listening = false;
    }
  }

  setFrameHook(hook: FrameHook | null): void {
    this.hook = hook;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listener = null;
    // Wake our own async listener, if parked, so it sees `closed` and ends.
    new DoorbellRinger(this.descriptor.doorbells[this.port]!).ringAlways();
  }

  private assertOpen(): void {
    if (this.closed) throw new NewtosError('ERR_NIC_CLOSED', `${this.name} is closed`);
  }
}

function macKey(b: Uint8Array, at: number): number {
  return ((b[at]! << 8) | b[at + 1]!) * 2 ** 32 + (((b[at + 2]! << 24) | (b[at + 3]! << 16) | (b[at + 4]! << 8) | b[at + 5]!) >>> 0);
}

function entryKey(words: Int32Array, at: number): number {
  return (words[at]! & 0xffff) * 2 ** 32 + (words[at + 1]! >>> 0);
}
