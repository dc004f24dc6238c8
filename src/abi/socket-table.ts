/**
 * A socket table: `slots` socket blocks of one geometry in one
 * SharedArrayBuffer, shared by a transport server (TCP or UDP, which owns slot
 * allocation) and the application thread (which maps blocks by slot number).
 *
 * Header (one 64-byte line): magic, slot count, send capacity, receive
 * capacity, options, and the words of the table's wake-up (table-events.ts,
 * when the table has one); then per-slot generation words follow in their own
 * region: a slot's generation is bumped by the owner each time it is handed
 * out, so a handle of an old generation can be recognised after reuse or a
 * restart. Then the ready and kick bitmaps with their summaries
 * (table-events.ts; none without), every slot's connection checkpoint (tcb-checkpoint.ts: the
 * transport server's copy of the connection's state, from which a successor
 * resumes it), then the socket blocks.
 */
import { invalidArg } from '../errors.js';
import { align64, SocketBlock } from './socket-block.js';
import { CheckpointArea } from './tcb-checkpoint.js';
import { TableEvents } from './table-events.js';

const MAGIC = 0x534f434b; // 'SOCK'
const H_MAGIC = 0;
const H_SLOTS = 1;
const H_SEND = 2;
const H_RECV = 3;
const H_OPTS = 4;
/** H_OPTS: the application waits on the table's word, not on each socket's, and kicks by marks (table-events.ts). */
const OPT_TABLE_EVENTS = 1;
const HEADER_BYTES = 64;

export interface SocketTableGeometry {
  readonly slots: number;
  readonly sendCapacity: number;
  readonly recvCapacity: number;
  /**
   * The server marks ready sockets in the table and wakes the application once for all of
   * them (table-events.ts), instead of a wake-up per socket. The application side must wait
   * the same way (the stack client does for its TCP and UDP tables).
   */
  readonly tableEvents?: boolean;
}

/**
 * Bytes of the regions after the header: generations, then (with table events) the ready
 * bitmap, its summary, the kick bitmap and its summary, each in lines of its own.
 */
function regions(slots: number, tableEvents: boolean): { gens: number; bits: number; summary: number; events: number } {
  const w = tableEvents ? TableEvents.words(slots) : { ready: 0, summary: 0 };
  const bits = align64(w.ready * 4);
  const summary = align64(w.summary * 4);
  return { gens: align64(slots * 4), bits, summary, events: 2 * (bits + summary) };
}

export function createSocketTable(g: SocketTableGeometry): SharedArrayBuffer {
  if (!Number.isInteger(g.slots) || g.slots < 1 || g.slots > 1 << 16) throw invalidArg('slots', `must be an integer in [1, 65536], got ${g.slots}`);
  for (const [k, v] of [['sendCapacity', g.sendCapacity], ['recvCapacity', g.recvCapacity]] as const) {
    if (!Number.isInteger(v) || v < 1024 || v > 64 << 20) throw invalidArg(k, `must be an integer in [1024, 64 MiB], got ${v}`);
  }
  const blockBytes = align64(SocketBlock.bytesNeeded(g.sendCapacity, g.recvCapacity));
  const r = regions(g.slots, g.tableEvents === true);
  const sab = new SharedArrayBuffer(HEADER_BYTES + r.gens + r.events + CheckpointArea.bytesNeeded(g.slots) + blockBytes * g.slots);
  const h = new Int32Array(sab, 0, 8);
  h[H_SLOTS] = g.slots;
  h[H_SEND] = g.sendCapacity;
  h[H_RECV] = g.recvCapacity;
  h[H_OPTS] = g.tableEvents === true ? OPT_TABLE_EVENTS : 0;
  Atomics.store(h, H_MAGIC, MAGIC);
  return sab;
}

export class SocketTable implements SocketTableGeometry {
  readonly slots: number;
  readonly sendCapacity: number;
  readonly recvCapacity: number;
  /** The table's wake-up (undefined: the application waits on each socket's word). */
  readonly events: TableEvents | undefined;
  private readonly gens: Int32Array;
  /** Connection checkpoints, one region per slot (written by the transport server only). */
  readonly checkpoints: CheckpointArea;
  private readonly blocks: (SocketBlock | undefined)[];
  private readonly blocksStart: number;
  private readonly blockBytes: number;

  constructor(readonly sab: SharedArrayBuffer) {
    const h = new Int32Array(sab, 0, HEADER_BYTES / 4);
    if (Atomics.load(h, H_MAGIC) !== MAGIC) throw invalidArg('sab', 'is not a socket table');
    this.slots = h[H_SLOTS]!;
    this.sendCapacity = h[H_SEND]!;
    this.recvCapacity = h[H_RECV]!;
    const withEvents = (h[H_OPTS]! & OPT_TABLE_EVENTS) !== 0;
    const r = regions(this.slots, withEvents);
    this.gens = new Int32Array(sab, HEADER_BYTES, this.slots);
    if (withEvents) {
      const w = TableEvents.words(this.slots);
      const at = HEADER_BYTES + r.gens;
      const kicksAt = at + r.bits + r.summary;
      this.events = new TableEvents(h,
        new Int32Array(sab, at, w.ready), new Int32Array(sab, at + r.bits, w.summary),
        new Int32Array(sab, kicksAt, w.ready), new Int32Array(sab, kicksAt + r.bits, w.summary));
    } else {
      this.events = undefined;
    }
    const checkpointsAt = HEADER_BYTES + r.gens + r.events;
    this.checkpoints = new CheckpointArea(sab, checkpointsAt, this.slots);
    this.blocksStart = checkpointsAt + CheckpointArea.bytesNeeded(this.slots);
    this.blockBytes = align64(SocketBlock.bytesNeeded(this.sendCapacity, this.recvCapacity));
    this.blocks = new Array<SocketBlock | undefined>(this.slots);
  }

  /** The block of `slot` (views created on first use). */
  block(slot: number): SocketBlock {
    let b = this.blocks[slot];
    if (b === undefined) {
      if (!Number.isInteger(slot) || slot < 0 || slot >= this.slots) throw invalidArg('slot', `must be in [0, ${this.slots - 1}], got ${slot}`);
      b = new SocketBlock(this.sab, this.blocksStart + slot * this.blockBytes, this.sendCapacity, this.recvCapacity, this.events, slot);
      this.blocks[slot] = b;
    }
    return b;
  }

  generation(slot: number): number {
    return Atomics.load(this.gens, slot);
  }

  /** Owner only: a slot is handed out again; reset its block and bump its generation. */
  recycle(slot: number): number {
    this.block(slot).reset();
    this.checkpoints.clear(slot);
    return Atomics.add(this.gens, slot, 1) + 1;
  }
}
