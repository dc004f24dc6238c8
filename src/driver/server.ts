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
 * (src/nic/io-bridge.ts) that rings this thread's doorbell the same way. Any
 * link says when it has frames through `nextDueMs`; a link without it (a TAP
 * device without its waker) is looked at every TAP_POLL_MS while idle.
 */
import type { InChannel } from '../substrate/channel.js';
import type { MessageView } from '../substrate/message.js';
import type { PacketPool, PoolGeometry } from '../substrate/pool.js';
import type { ServerContext, ServerCore } from '../substrate/server.js';
import type { InterfaceConfig } from '../config/stack-config.js';
import { DRIVER_MSG } from '../stack/protocol.js';
import type { FrameSlots, NicBackend } from '../nic/backend.js';
import { wallClockMs } from '../nic/backend.js';
import { openNicBackend } from '../nic/open.js';
import { VswitchPort, type VswitchDescriptor } from '../nic/vswitch.js';
import { parseMac } from '../nic/backend.js';

export interface DriverServerOptions {
  readonly interfaces: readonly InterfaceConfig[];
  /** For interfaces on an in-process switch: the switch's memory and this host's port, by interface name. */
  readonly vswitchPorts: Readonly<Record<string, { descriptor: VswitchDescriptor; port: number }>>;
}

const RX_POSTED = 64;
const TAP_POLL_MS = 1; // only for a TAP device whose waker thread could not start
const TX_RETRY_MS = 0.05;

interface Link {
  readonly ifIndex: number;
  readonly backend: NicBackend;
  readonly vswitch: VswitchPort | null;
  /** Posted receive buffers (pool indexes) and their slots view. */
  readonly posted: Int32Array;
  readonly slots: FrameSlots;
}

export async function createServer(ctx: ServerContext): Promise<ServerCore> {
  const opts = ctx.options as unknown as DriverServerOptions;
  const pool: PacketPool | undefined = ctx.pools['rx'];
  const toIp = ctx.outputs['ip'];
  if (pool === undefined || toIp === undefined) throw new Error('driver server needs pool "rx" and output "ip"');
  const counters = { rxFrames: 0, txFrames: 0, rxNoBuffer: 0, txStale: 0, txBackpressure: 0 };

  const links: Link[] = [];
  for (const [ifIndex, ifc] of opts.interfaces.entries()) {
    let vswitch: VswitchPort | null = null;
    const backend = await openNicBackend(ifc, {
      doorbell: ctx.doorbell, // socket links: their I/O bridge thread rings us
      vswitchPort: () => {
        const at = opts.vswitchPorts[ifc.name];
        if (at === undefined) throw new Error(`driver: no switch port for ${ifc.name}`);
        const mac = ifc.mac === undefined ? undefined : parseMac(ifc.mac);
        vswitch = new VswitchPort(at.descriptor, at.port, { mac: mac ?? new Uint8Array([2, 0, 0, 0, 0, ifIndex + 1]) });
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
      ifIndex, backend, vswitch, posted,
      slots: { memory: pool.bytes, offsets, lengths: new Uint32Array(RX_POSTED), capacity: pool.payloadCapacity },
    });
  }

  /** Post buffers into every empty receive slot; returns how many slots are posted. */
  const refill = (l: Link): number => {
    let n = 0;
    for (let k = 0; k < RX_POSTED; k++) {
      if (l.posted[k]! < 0) {
        const i = pool.alloc();
        if (i < 0) break;
        l.posted[k] = i;
        (l.slots.offsets as Uint32Array)[k] = pool.payloadOffset(i);
      }
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
      if (ready === 0) { counters.rxNoBuffer++; continue; }
      // Take only what IP has room for: the rest waits in the device (the switch
      // pipe pushes back on its sender) instead of being dropped here.
      const room = toIp.freeSlots();
      if (room === 0) {
        toIp.reserve(); // fails, and asks IP to ring us when it frees a slot
        continue;
      }
      const n = l.backend.receive(l.slots, Math.min(ready, room));
      for (let k = 0; k < n; k++) {
        const m = toIp.reserve();
        if (m === null) {
          // IP is behind: the remaining frames are dropped like a NIC with a full ring.
          counters.rxNoBuffer += n - k;
          break;
        }
        const i = l.posted[k]!;
        m.setType(DRIVER_MSG.FRAME_RX); m.setSeq(0);
        pool.lend(m, i, l.slots.lengths[k]!);
        m.setArg(0, l.ifIndex); m.setArg(1, 0); m.setArg(2, 0); m.setArg(3, 0); m.setArg(4, 0); m.setArg(5, 0);
        toIp.commit();
        l.posted[k] = -1;
        counters.rxFrames++;
      }
    }
  };

  // Transmit: one FrameSlots per source pool, over that pool's memory.
  const txSlots = new Map<number, FrameSlots>();
  const slotsFor = (g: PoolGeometry): FrameSlots => {
    let s = txSlots.get(g.id);
    if (s === undefined) {
      s = { memory: g.bytes, offsets: new Uint32Array(1), lengths: new Uint32Array(1), capacity: g.bufSize };
      txSlots.set(g.id, s);
    }
    return s;
  };

  const transmit = (msg: MessageView): boolean => {
    const l = links[msg.arg(0)];
    const g = ctx.buffers.geometry(msg.pool);
    if (l === undefined || g === undefined || ctx.buffers.resolve(msg) === null) {
      counters.txStale++;
      ctx.buffers.giveBack(msg);
      return true;
    }
    const s = slotsFor(g);
    (s.offsets as Uint32Array)[0] = msg.offset;
    (s.lengths as Uint32Array)[0] = msg.length;
    if (l.backend.transmit(s, 1) === 0) {
      // The link is full (a switch pipe the peer has not drained): nobody rings us
      // when it drains, so look again shortly (pollAt).
      counters.txBackpressure++;
      txBlocked = true;
      return false;
    }
    txBlocked = false;
    counters.txFrames++;
    ctx.buffers.giveBack(msg);
    return true;
  };

  const debugEveryMs = Number(process.env['NEWTOS_DEBUG_TCP_MS'] ?? 0);
  let nextDebug = 0;
  const hasPolledLink = links.some((l) => l.backend.nextDueMs === undefined);
  let txBlocked = false;
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
      if (debugEveryMs > 0 && now >= nextDebug) {
        nextDebug = now + debugEveryMs;
        ctx.log('driver-debug', { ...counters, due: links.map((l) => (l.backend.nextDueMs?.() ?? NaN) - wallClockMs()), posted: links.map((l) => Array.from(l.posted).filter((x) => x >= 0).length), poolAvail: pool.available, links: links.map((l) => l.backend.counters.snapshot()) });
      }
      receive();
    },
    pollAt(): number {
      let at = hasPolledLink ? now + TAP_POLL_MS : Infinity;
      if (txBlocked) at = Math.min(at, now + TX_RETRY_MS);
      const wall = wallClockMs();
      for (const l of links) {
        if (l.backend.nextDueMs === undefined) continue;
        const due = l.backend.nextDueMs();
        if (due !== Infinity) at = Math.min(at, now + Math.max(0, due - wall));
      }
      return at;
    },
    hasWork(): boolean {
      // With IP's ring full there is nothing to do: IP rings us when it frees a slot.
      if (toIp.freeSlots() === 0) return false;
      const wall = wallClockMs();
      for (const l of links) {
        if (l.backend.nextDueMs !== undefined) { if (l.backend.nextDueMs() <= wall) return true; }
        else if (l.backend.waitReadable?.(0) === true) return true;
      }
      return false;
    },
    onStop(): void {
      for (const l of links) void l.backend.close();
    },
  };
}
