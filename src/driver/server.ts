/**
 * The NIC driver server: owns the host's links (virtual-switch ports, TAP
 * devices) and moves frames between them and IP.
 *
 * Receive: a set of the `rx` pool's buffers is posted to each link like a
 * NIC's receive descriptors; the link fills them (one copy, the "DMA"), and
 * each frame goes to IP as FRAME_RX by rich pointer. Fresh buffers replace the
 * ones handed on. Transmit: FRAME_TX carries a pointer into whichever pool
 * holds the frame (TCP's, UDP's or IP's); the link reads it in place and the
 * buffer is given back to its owner.
 *
 * Waking: a virtual-switch port rings a doorbell when a frame arrives for it.
 * The host builder makes that doorbell this server's thread doorbell, and
 * `hasWork` tells the loop not to park while frames are due, so no wake-up is
 * lost. Socket links (UDP, VXLAN, stream) run behind an I/O bridge thread
 * (src/driver/nic/io-bridge.ts) that rings this thread's doorbell the same way. Any
 * link says when it has frames through `nextDueMs`; a link without it (a TAP
 * device without its waker) is looked at every TAP_POLL_MS while idle.
 */
import type { InChannel } from '../substrate/channel.js';
import type { MessageView } from '../substrate/message.js';
import { DebugEvery } from '../substrate/debug-log.js';
import type { PacketPool, PoolGeometry } from '../substrate/pool.js';
import type { ServerContext, ServerCore } from '../substrate/server.js';
import type { InterfaceConfig } from '../config/stack-config.js';
import { DRIVER_MSG, RxFlag, TxFlag } from '../abi/protocol.js';
import { fillFrameTcpChecksum, GroMerger, GsoCutter, type TcpFrameLayout } from './offload.js';
import { DriverStatsPublisher } from './driver-stats.js';
import { RssSteering, type SteerDecision } from './nic/rss.js';
import type { FrameSlots, NicBackend } from './nic/backend.js';
import { MAX_SUPER_FRAME, RX_FLAG_CSUM_VERIFIED, RX_FLAG_SUPER_FRAME, TX_FLAG_CSUM_PARTIAL, wallClockMs } from './nic/backend.js';
import { openNicBackend } from './nic/open.js';
import { CaptureTap } from './nic/capture-channel.js';
import { LinkStatsPublisher } from './nic/link-stats.js';
import { VswitchPort, type VswitchDescriptor } from './nic/vswitch.js';
import { parseMac } from './nic/backend.js';
import { FrameRx, FrameTx } from '../abi/message-args.js';

export interface DriverServerOptions {
  readonly interfaces: readonly InterfaceConfig[];
  /** For interfaces on an in-process switch: the switch's memory and this host's port, by interface name. */
  readonly vswitchPorts: Readonly<Record<string, { descriptor: VswitchDescriptor; port: number }>>;
  /** Live-capture channels by interface index (src/driver/nic/capture-channel.ts). */
  readonly captures?: readonly SharedArrayBuffer[];
  /** Where link counters are published (src/driver/nic/link-stats.ts). */
  readonly linkStats?: SharedArrayBuffer;
  /** Receive queues software RSS steers frames to (FRAME_RX a1) when the host has one replica. */
  readonly rssQueues?: number;
  /**
   * Stack replicas (default 1): queue k's frames go to output `ip` (k = 0) or `ip-k`, steered
   * in replica mode (rss.ts steerReplica) by `rssTable`; ARP goes to every replica.
   */
  readonly replicas?: number;
  /** The shared indirection table (src/abi/rss-table.ts), with replicas. */
  readonly rssTable?: SharedArrayBuffer;
  /** TCP frames steered per table entry (rss-table.ts createEntryFrames), with replicas. */
  readonly rssEntryFrames?: SharedArrayBuffer;
  /** The driver's own counters (driver-stats.ts). */
  readonly driverStats?: SharedArrayBuffer;
  /** Virtual-switch ports take and deliver TCP bursts whole (virtio-style GSO; needs segment-size rx buffers). */
  readonly vswitchTso?: boolean;
  /** TAP fds the application thread opened and keeps, by interface name (the driver adopts them). */
  readonly tapFds?: Readonly<Record<string, number>>;
  /**
   * An eventfd the application thread made and keeps open for the host's life (filled once the
   * TAP devices are open): the driver's thread sleeps in poll(2) on its first TAP device and
   * this, and ringers write it (open.ts).
   */
  readonly tapWake?: { readonly eventFd?: number };
}

const RX_POSTED = 64;
const TAP_POLL_MS = 1; // only for a TAP device whose waker thread could not start
/**
 * With every receive buffer lent out (in IP's ring, or delivered on to TCP's), look at the
 * pool again this often instead of at once: nobody rings us when buffers come back, and
 * the loop spun on the empty pool (a SYN flood over TAP on 2 cores: 2000-5000 passes per
 * 100 ms that received nothing, counted idle, not busy) on a core the threads that hold
 * the buffers needed. A TAP queue of 1000 frames holds 10 ms at 100k frames/s.
 */
const RX_NO_BUFFER_RETRY_MS = 0.5;
const TX_RETRY_MS = 0.05;

interface Link {
  readonly ifIndex: number;
  readonly backend: NicBackend;
  readonly vswitch: VswitchPort | null;
  /** The link completes partial TCP checksums (configured, and the backend can). */
  readonly checksumOffload: boolean;
  /** Posted receive buffers (pool indexes) and their slots view. */
  readonly posted: Int32Array;
  readonly slots: FrameSlots;
}

export async function createServer(ctx: ServerContext): Promise<ServerCore> {
  const opts = ctx.options as unknown as DriverServerOptions;
  const pool: PacketPool | undefined = ctx.pools['rx'];
  const toIp = ctx.outputs['ip'];
  if (pool === undefined || toIp === undefined) throw new Error('driver server needs pool "rx" and output "ip"');
  const replicas = opts.replicas ?? 1;
  const toIps = Array.from({ length: replicas }, (_, k) => ctx.outputs[k === 0 ? 'ip' : `ip-${k}`]);
  if (toIps.some((o) => o === undefined)) throw new Error(`driver server needs outputs "ip" to "ip-${replicas - 1}"`);
  const counters = { rxQueueFull: 0, arpCopies: 0, rxFrames: 0, txFrames: 0, rxNoBuffer: 0, rxNoBufferEpisodes: 0, rxNoBufferMs: 0, rxCopied: 0, txStale: 0, txBackpressure: 0, groMerged: 0, groPackets: 0, gsoBursts: 0, gsoSegments: 0, gsoMalformed: 0, gsoRestarted: 0, tsoBursts: 0, rxSuperFrames: 0, checksumsFilled: 0 };
  // Receive offload (GRO) needs segment-size buffers; the host gives the pool when frames are small.
  const groPool: PacketPool | undefined = ctx.pools['gro'];
  // Copybreak (host.ts): small frames leave in frame-size buffers, the segment-size one stays posted.
  const smallPool: PacketPool | undefined = ctx.pools['rxsmall'];
  const gro = new GroMerger();
  /**
   * GSO bursts a full link took only in part, by message (pool and offset): their cut frames
   * and the next one to send when the message comes again. Each replica's IP has its own
   * channel to us and a message left queued stops only its own channel, so several bursts
   * can be half sent at once; each resumes where it stopped (restarting one whenever another
   * came first would send neither while the link takes less than a burst between tries).
   */
  const gsoPartial = new Map<number, { readonly cutter: GsoCutter; readonly length: number; readonly gen: number; next: number; readonly count: number }>();
  const gsoIdle: GsoCutter[] = [new GsoCutter()];
  /** Half-sent bursts kept at most (a message that never comes back is forgotten past this). */
  const GSO_PARTIAL_MAX = 16;

  const links: Link[] = [];
  for (const [ifIndex, ifc] of opts.interfaces.entries()) {
    let vswitch: VswitchPort | null = null;
    const tapFd = opts.tapFds?.[ifc.name];
    const backend = await openNicBackend(ifc, {
      ...(tapFd !== undefined ? { tapFd } : {}),
      ...(opts.tapWake?.eventFd !== undefined && ctx.sleepBeside !== undefined
        ? { sleepBeside: { eventFd: opts.tapWake.eventFd, sleep: ctx.sleepBeside.bind(ctx) } } : {}),
      doorbell: ctx.doorbell, // socket links: their I/O bridge thread rings us
      vswitchPort: () => {
        const at = opts.vswitchPorts[ifc.name];
        if (at === undefined) throw new Error(`driver: no switch port for ${ifc.name}`);
        const mac = ifc.mac === undefined ? undefined : parseMac(ifc.mac);
        vswitch = new VswitchPort(at.descriptor, at.port, {
          mac: mac ?? new Uint8Array([2, 0, 0, 0, 0, ifIndex + 1]), checksumOffload: ifc.checksumOffload === true,
          // Bursts cross the switch whole (both ways) when the host gives segment-size receive buffers.
          tso: opts.vswitchTso === true && pool.payloadCapacity >= MAX_SUPER_FRAME + 7,
        });
        return vswitch;
      },
    });
    if (process.env['NEWTOS_TRACE_FRAMES'] !== undefined) {
      backend.setFrameHook((dir, f) => {
        if (f.length < 54 || f[12] !== 8 || f[13] !== 0 || f[23] !== 6) { ctx.log('frame', { dir, len: f.length, type: (f[12]! << 8) | f[13]! }); return; }
        const dv = new DataView(f.buffer, f.byteOffset, f.length);
        ctx.log('frame', { dir, len: f.length, sp: dv.getUint16(34), dp: dv.getUint16(36), seq: dv.getUint32(38), ack: dv.getUint32(42), fl: f[47], win: dv.getUint16(48) });
      });
    }
    const posted = new Int32Array(RX_POSTED).fill(-1);
    const offsets = new Uint32Array(RX_POSTED);
    links.push({
      ifIndex, backend, vswitch, posted, checksumOffload: ifc.checksumOffload === true && backend.checksumOffload === true,
      slots: { memory: pool.bytes, offsets, lengths: new Uint32Array(RX_POSTED), capacity: pool.payloadCapacity, flags: new Uint8Array(RX_POSTED), gsoSizes: new Uint32Array(RX_POSTED) },
    });
    if (backend.tso === true && pool.payloadCapacity < MAX_SUPER_FRAME + 7) {
      // The host builder gives segment-size receive buffers when a link has TSO; without them super-frames would be dropped.
      ctx.log('driver-warning', { link: backend.name, reason: `receive buffers of ${pool.payloadCapacity} bytes cannot hold the link's super-frames` });
    }
  }

  // Live capture: each poll looks whether a capture was switched on or off.
  const captureTaps = links.flatMap((l) => {
    const sab = opts.captures?.[l.ifIndex];
    return sab === undefined ? [] : [new CaptureTap(sab, l.backend)];
  });

  const linkStats = opts.linkStats === undefined ? null : new LinkStatsPublisher(opts.linkStats, links.map((l) => l.backend));
  // Software RSS (Toeplitz over the 4-tuple, as NICs do): every frame to IP names its receive queue and hash.
  const rss = replicas > 1
    ? new RssSteering({
      queues: replicas, replicas: true, ...(opts.rssTable !== undefined ? { table: new Uint8Array(opts.rssTable) } : {}),
      ...(opts.rssEntryFrames !== undefined ? { entryFrames: new Int32Array(opts.rssEntryFrames) } : {}),
    })
    : new RssSteering({ queues: opts.rssQueues ?? 1 });
  /** The ring of queue q's replica. */
  const outOf = (q: number): NonNullable<typeof toIp> => replicas > 1 ? toIps[q]! : toIp;
  /** Free slots toward IP: with replicas, the most any replica's ring has (a full one drops its own frames only). */
  const ipRoom = (): number => {
    if (replicas === 1) return toIp.freeSlots();
    let room = 0;
    for (const o of toIps) room = Math.max(room, o!.freeSlots());
    return room;
  };
  const rxQueueFrames = new Float64Array(rss.queues);
  const driverStats = opts.driverStats === undefined ? null : new DriverStatsPublisher(opts.driverStats);
  let statsPublishedAt = -Infinity;
  let statsMoved = -1;
  const publishDriverStats = (force: boolean): void => {
    const moved = counters.rxFrames + counters.txFrames;
    if (driverStats === null || moved === statsMoved || (!force && now - statsPublishedAt < 100)) return;
    let filled = counters.checksumsFilled;
    for (const l of links) filled += l.vswitch?.checksumsCompleted ?? 0;
    driverStats.publish({ ...counters, checksumsFilled: filled }, gro.badChecksums, rxQueueFrames);
    statsPublishedAt = now;
    statsMoved = moved;
  };

  /** Post buffers into every empty receive slot; returns how many slots are posted. */
  const refill = (l: Link): number => {
    let n = 0;
    for (let k = 0; k < RX_POSTED; k++) {
      if (l.posted[k]! < 0) {
        const i = pool.alloc();
        if (i < 0) break;
        l.posted[k] = i;
      }
      // Every time: a receive may have moved the offset of a slot it then could not hand on.
      (l.slots.offsets as Uint32Array)[k] = pool.payloadOffset(l.posted[k]!);
      n++;
    }
    return n;
  };

  /** Receive what the links have and hand it to IP. */
  const receive = (): void => {
    for (const l of links) {
      const ready = refill(l);
      if (ready < RX_POSTED) {
        // Compact: receive() fills slots 0..n-1, so move posted buffers to the front.
        let w = 0;
        for (let k = 0; k < RX_POSTED; k++) {
          if (l.posted[k]! >= 0) {
            const i = l.posted[k]!;
            l.posted[k] = -1;
            l.posted[w] = i;
            (l.slots.offsets as Uint32Array)[w] = pool.payloadOffset(i);
            w++;
          }
        }
      }
      if (ready === 0) {
        counters.rxNoBuffer++;
        if (!starved) { starved = true; starvedSince = now; counters.rxNoBufferEpisodes++; }
        continue;
      }
      if (starved) { starved = false; counters.rxNoBufferMs += now - starvedSince; }
      // Take only what IP has room for: the rest waits in the device (the switch
      // pipe pushes back on its sender) instead of being dropped here.
      const room = ipRoom();
      if (room === 0) {
        // fails, and asks IP to ring us when it frees a slot
        if (replicas === 1) toIp.reserve(); else for (const o of toIps) o!.reserve();
        continue;
      }
      const n = l.backend.receive(l.slots, Math.min(ready, room));
      if (l.backend.tso === true) for (let k = 0; k < n; k++) if ((l.slots.flags![k]! & RX_FLAG_SUPER_FRAME) !== 0) counters.rxSuperFrames++;
      if (groPool !== undefined && n > 1) { receiveMerged(l, n); continue; }
      for (let k = 0; k < n; k++) {
        if (!handOn(l, k, rxFlagsOf(l, k))) {
          // IP is behind: the remaining frames are dropped like a NIC with a full ring.
          counters.rxNoBuffer += n - k;
          break;
        }
      }
    }
  };

  /**
   * Fills the reserved message `m` as FRAME_RX for buffer i of `from` (frame at off, len bytes),
   * steered by RSS (queue and hash in a1/a3; `frames` wire frames counted for the queue), and commits it.
   */
  const publishRx = (m: MessageView, d: SteerDecision, from: PacketPool, i: number, off: number, len: number, ifIndex: number, frames: number, rxFlags: number, gsoSize: number): void => {
    rxQueueFrames[d.queue]! += frames;
    from.lend(m, i, len, off);
    FrameRx.start(m).iface(ifIndex).rxQueue(d.queue).rxFlags(rxFlags).rssHash(d.hash).gsoSize(gsoSize);
    outOf(d.queue).commit();
  };

  /**
   * With replicas, every replica's IP resolves its own neighbours: an ARP frame (steered
   * to queue 0) goes as a copy to each other replica too. Only replica 0 answers requests
   * (IpServerOptions.replica); the others learn from them and from the replies.
   */
  const copyArpToReplicas = (bytes: Uint8Array, off: number, len: number, ifIndex: number): void => {
    if (len < 14 || bytes[off + 12] !== 0x08 || bytes[off + 13] !== 0x06) return;
    for (let q = 1; q < replicas; q++) {
      const i = pool.alloc();
      if (i < 0) return;
      const m = toIps[q]!.reserve();
      if (m === null) { pool.free(i); continue; }
      const at = pool.payloadOffset(i);
      pool.bytes.copyWithin(at, off, off + len);
      pool.lend(m, i, len, at);
      FrameRx.start(m).iface(ifIndex).rxQueue(q).rxFlags(0).rssHash(0).gsoSize(0);
      toIps[q]!.commit();
      counters.arpCopies++;
    }
  };

  /** FRAME_RX flags for received slot k: what the link vouched for. */
  const rxFlagsOf = (l: Link, k: number): number => ((l.slots.flags?.[k] ?? 0) & RX_FLAG_CSUM_VERIFIED) !== 0 ? RxFlag.ChecksumVerified : 0;

  /** Lends received slot k to IP as FRAME_RX. False when IP's ring is full. */
  const handOn = (l: Link, k: number, rxFlags: number): boolean => {
    const off = l.slots.offsets[k]!;
    const len = l.slots.lengths[k]!;
    const d = rss.steer(pool.bytes, off, off + len);
    const m = outOf(d.queue).reserve();
    if (m === null) {
      if (replicas === 1) return false;
      // This replica is behind (or restarting): its frame is dropped, as a NIC drops on a
      // full queue; the buffer stays posted. The other replicas' frames go on.
      counters.rxQueueFull++;
      return true;
    }
    if (replicas > 1 && d.reason === 'not-ipv4') copyArpToReplicas(pool.bytes, off, len, l.ifIndex);
    const gsoSize = l.slots.gsoSizes?.[k] ?? 0;
    if (smallPool !== undefined && gsoSize === 0 && len + 7 <= smallPool.payloadCapacity) {
      const s = smallPool.alloc();
      if (s >= 0) {
        // Same address residue mod 8 as where it was read (the payload copies further on move words).
        const base = smallPool.payloadOffset(s);
        const at = base + ((pool.bytes.byteOffset + off - smallPool.bytes.byteOffset - base) & 7);
        smallPool.bytes.set(pool.bytes.subarray(off, off + len), at);
        publishRx(m, d, smallPool, s, at, len, l.ifIndex, 1, rxFlags, 0);
        counters.rxFrames++;
        counters.rxCopied++;
        return true;
      }
    }
    publishRx(m, d, pool, l.posted[k]!, off, len, l.ifIndex, 1, rxFlags, gsoSize);
    l.posted[k] = -1;
    counters.rxFrames++;
    return true;
  };

  /**
   * GRO over one receive batch (offload.ts): runs of in-sequence segments of one
   * flow become one packet in a segment-size buffer; everything else, and any run
   * when no such buffer is free, goes on frame by frame. Every TCP segment that
   * passed the checksum check goes on marked verified.
   */
  const layouts: (TcpFrameLayout | null)[] = [];
  const run: { mem: Uint8Array; off: number; layout: TcpFrameLayout }[] = [];
  const receiveMerged = (l: Link, n: number): void => {
    const mem = l.slots.memory;
    const offs = l.slots.offsets;
    const lens = l.slots.lengths;
    for (let k = 0; k < n; k++) {
      const fl = l.slots.flags?.[k] ?? 0;
      // A super-frame is already one GSO packet: merging frames into it would give it a
      // segment size no wire frame has (a router would then fragment it).
      layouts[k] = (fl & RX_FLAG_SUPER_FRAME) === 0 && gro.candidate(mem, offs[k]!, lens[k]!, (fl & RX_FLAG_CSUM_VERIFIED) !== 0) ? gro.last : null;
    }
    let k = 0;
    while (k < n) {
      const first = layouts[k];
      if (first === null || first === undefined) {
        if (!handOn(l, k, rxFlagsOf(l, k))) { counters.rxNoBuffer += n - k; return; }
        k++;
        continue;
      }
      let j = k + 1;
      let bytes = first.ipHeaderLen + first.tcpHeaderLen + first.payloadLen;
      const maxBytes = groPool!.payloadCapacity - 7 - (first.ip - offs[k]!);
      while (j < n) {
        const lb = layouts[j];
        if (lb === null || lb === undefined || !gro.joins(mem, layouts[j - 1]!, mem, lb, first.payloadLen, bytes, maxBytes)) break;
        bytes += lb.payloadLen;
        j++;
      }
      const big = j - k > 1 ? groPool!.alloc() : -1;
      if (big < 0) {
        for (; k < j; k++) if (!handOn(l, k, RxFlag.ChecksumVerified)) { counters.rxNoBuffer += n - k; return; }
        continue;
      }
      const d = rss.steer(mem, offs[k]!, offs[k]! + lens[k]!);
      const m = outOf(d.queue).reserve();
      if (m === null) {
        groPool!.free(big);
        if (replicas === 1) { counters.rxNoBuffer += n - k; return; }
        counters.rxQueueFull += j - k;
        k = j;
        continue;
      }
      run.length = 0;
      for (let q = k; q < j; q++) run.push({ mem, off: offs[q]!, layout: layouts[q]! });
      // The merged frame keeps the first frame's address residue (mod 8): the payload copies move words.
      const base = groPool!.payloadOffset(big);
      const at = base + ((mem.byteOffset + offs[k]! - groPool!.bytes.byteOffset - base) & 7);
      const len = gro.merge(run, groPool!.bytes, at);
      // Merged from segments of the first one's size (GRO's rule): a router re-cuts it at that size.
      publishRx(m, d, groPool!, big, at, len, l.ifIndex, j - k, RxFlag.ChecksumVerified, first.payloadLen);
      counters.rxFrames += j - k;
      counters.groMerged += j - k;
      counters.groPackets++;
      for (; k < j; k++) { pool.free(l.posted[k]!); l.posted[k] = -1; }
    }
  };

  // Transmit: one FrameSlots per source pool, over that pool's memory.
  const txSlots = new Map<number, FrameSlots>();
  const slotsFor = (g: PoolGeometry): FrameSlots => {
    let s = txSlots.get(g.id);
    if (s === undefined) {
      s = { memory: g.bytes, offsets: new Uint32Array(1), lengths: new Uint32Array(1), capacity: g.bufSize, gsoSizes: new Uint32Array(1), txFlags: new Uint8Array(1) };
      txSlots.set(g.id, s);
    }
    return s;
  };

  const transmit = (msg: MessageView): boolean => {
    const l = links[msg.arg(FrameTx.iface)];
    const g = ctx.buffers.geometry(msg.pool);
    if (l === undefined || g === undefined || ctx.buffers.resolve(msg) === null) {
      counters.txStale++;
      ctx.buffers.giveBack(msg);
      return true;
    }
    const burst = (msg.arg(FrameTx.txFlags) & TxFlag.Gso) !== 0;
    if (burst && (l.backend.tso !== true || l.backend.acceptsSuperFrame?.(g.bytes, msg.offset, msg.length) === false)) {
      return transmitBurst(l, g, msg);
    }
    const s = slotsFor(g);
    (s.offsets as Uint32Array)[0] = msg.offset;
    (s.lengths as Uint32Array)[0] = msg.length;
    // A link with TSO takes the burst whole and segments it itself.
    (s.gsoSizes as Uint32Array)[0] = burst ? msg.arg(FrameTx.gsoMss) : 0;
    // TCP left the checksum to us: the link completes it, or we do (software fallback).
    let partial = !burst && (msg.arg(FrameTx.txFlags) & TxFlag.ChecksumPartial) !== 0;
    if (partial && !l.checksumOffload) {
      if (fillFrameTcpChecksum(g.bytes, msg.offset, msg.length)) counters.checksumsFilled++;
      partial = false;
    }
    (s.txFlags as Uint8Array)[0] = partial ? TX_FLAG_CSUM_PARTIAL : 0;
    if (l.backend.transmit(s, 1) === 0) {
      // The link is full (a switch pipe the peer has not drained): nobody rings us
      // when it drains, so look again shortly (pollAt).
      counters.txBackpressure++;
      txBlocked = true;
      return false;
    }
    txBlocked = false;
    counters.txFrames++;
    if (burst) counters.tsoBursts++;
    ctx.buffers.giveBack(msg);
    return true;
  };

  /** Software GSO: cut the burst into frames in scratch memory, send them, resume where the link stopped. */
  const transmitBurst = (l: Link, g: PoolGeometry, msg: MessageView): boolean => {
    const key = msg.pool * 2 ** 32 + msg.offset;
    let p = gsoPartial.get(key);
    if (p !== undefined && (p.length !== msg.length || p.gen !== msg.poolGen)) {
      // Not the message we cut (its pool's owner restarted and the buffer is another's now).
      gsoIdle.push(p.cutter);
      gsoPartial.delete(key);
      p = undefined;
    }
    // A burst seen for the first time is cut into an idle cutter; the common case (the link
    // takes it whole) keeps no record of it.
    let cutter: GsoCutter;
    let next = 0;
    let count: number;
    if (p !== undefined) {
      ({ cutter, next, count } = p);
    } else {
      cutter = gsoIdle.pop() ?? new GsoCutter();
      // A link with checksum offload gets the segments with their TCP checksums unfilled.
      count = cutter.cut(g.bytes, msg.offset, msg.length, msg.arg(FrameTx.gsoMss), l.checksumOffload ? TX_FLAG_CSUM_PARTIAL : 0);
      if (count < 0) {
        gsoIdle.push(cutter);
        counters.gsoMalformed++;
        ctx.buffers.giveBack(msg);
        return true;
      }
      counters.gsoBursts++;
    }
    const sent = l.backend.transmit(cutter.frames(next), count - next);
    next += sent;
    counters.txFrames += sent;
    counters.gsoSegments += sent;
    if (next < count) {
      if (p !== undefined) p.next = next;
      else {
        if (gsoPartial.size >= GSO_PARTIAL_MAX) {
          // The oldest is forgotten: if its message comes again it is cut again, its first frames sent twice.
          const [oldKey, old] = gsoPartial.entries().next().value!;
          gsoPartial.delete(oldKey);
          gsoIdle.push(old.cutter);
          counters.gsoRestarted++;
        }
        gsoPartial.set(key, { cutter, length: msg.length, gen: msg.poolGen, next, count });
      }
      counters.txBackpressure++;
      txBlocked = true;
      return false;
    }
    if (p !== undefined) gsoPartial.delete(key);
    gsoIdle.push(cutter);
    txBlocked = false;
    ctx.buffers.giveBack(msg);
    return true;
  };

  const debug = new DebugEvery();
  const hasPolledLink = links.some((l) => l.backend.nextDueMs === undefined);
  let txBlocked = false;
  /** The last receive found no free buffer to post: frames waiting in a link are no work until some come back. */
  let starved = false;
  let starvedSince = 0;
  /** Still no buffer to post (sweeps the buffers borrowers gave back). */
  const stillStarved = (): boolean => starved && pool.available === 0 && pool.sweep() === 0;
  let now = ctx.now();

  return {
    onMessage(msg: MessageView, _from: InChannel, t: number): boolean {
      now = t;
      if (msg.type === DRIVER_MSG.FRAME_TX) return transmit(msg);
      if (msg.hasBuffer) ctx.buffers.giveBack(msg);
      return true;
    },
    poll(t: number): void {
      now = t;
      for (const c of captureTaps) c.sync();
      linkStats?.maybePublish(now, counters.rxFrames + counters.txFrames);
      publishDriverStats(false);
      if (debug.due(now)) {
        ctx.log('driver-debug', { ...counters, due: links.map((l) => (l.backend.nextDueMs?.() ?? NaN) - wallClockMs()), posted: links.map((l) => Array.from(l.posted).filter((x) => x >= 0).length), poolAvail: pool.available, links: links.map((l) => l.backend.counters.snapshot()) });
      }
      receive();
    },
    pollAt(): number {
      let at = hasPolledLink ? now + TAP_POLL_MS : Infinity;
      if (txBlocked) at = Math.min(at, now + TX_RETRY_MS);
      const wall = wallClockMs();
      // No sweep here: hasWork, which the loop asks just before it parks, sweeps (and does not park if buffers came back).
      if (starved && pool.available === 0) at = Math.min(at, now + RX_NO_BUFFER_RETRY_MS);
      else for (const l of links) {
        if (l.backend.nextDueMs === undefined) continue;
        const due = l.backend.nextDueMs();
        if (due !== Infinity) at = Math.min(at, now + Math.max(0, due - wall));
      }
      if (linkStats !== null) at = Math.min(at, linkStats.dueAt(counters.rxFrames + counters.txFrames));
      if (driverStats !== null && counters.rxFrames + counters.txFrames !== statsMoved) at = Math.min(at, statsPublishedAt + 100);
      return at;
    },
    hasWork(): boolean {
      // With IP's ring full there is nothing to do: IP rings us when it frees a slot.
      if (ipRoom() === 0) return false;
      // Nor without a buffer to receive into: pollAt looks at the pool again shortly.
      if (stillStarved()) return false;
      const wall = wallClockMs();
      for (const l of links) {
        if (l.backend.nextDueMs !== undefined) { if (l.backend.nextDueMs(true) <= wall) return true; }
        else if (l.backend.waitReadable?.(0) === true) return true;
      }
      return false;
    },
    onStop(): void {
      publishDriverStats(true);
      for (const l of links) void l.backend.close();
    },
  };
}
