/**
 * A socket table: `slots` socket blocks of one geometry in one
 * SharedArrayBuffer, shared by a transport server (TCP or UDP, which owns slot
 * allocation) and the application thread (which maps blocks by slot number).
 *
 * Header (one 64-byte line): magic, slot count, send capacity, receive
 * capacity, then per-slot generation words follow in their own region: a
 * slot's generation is bumped by the owner each time it is handed out, so a
 * handle of an old generation can be recognised after reuse or a restart.
 */
import { invalidArg } from '../errors.js';
import { SocketBlock } from './socket-block.js';

const MAGIC = 0x534f434b; // 'SOCK'
const H_MAGIC = 0;
const H_SLOTS = 1;
const H_SEND = 2;
const H_RECV = 3;
const HEADER_BYTES = 64;

function align64(n: number): number {
  return (n + 63) & ~63;
}

export interface SocketTableGeometry {
  readonly slots: number;
  readonly sendCapacity: number;
  readonly recvCapacity: number;
}

export function createSocketTable(g: SocketTableGeometry): SharedArrayBuffer {
  if (!Number.isInteger(g.slots) || g.slots < 1 || g.slots > 1 << 16) throw invalidArg('slots', `must be an integer in [1, 65536], got ${g.slots}`);
  for (const [k, v] of [['sendCapacity', g.sendCapacity], ['recvCapacity', g.recvCapacity]] as const) {
    if (!Number.isInteger(v) || v < 1024 || v > 64 << 20) throw invalidArg(k, `must be an integer in [1024, 64 MiB], got ${v}`);
  }
  const blockBytes = align64(SocketBlock.bytesNeeded(g.sendCapacity, g.recvCapacity));
  const gensBytes = align64(g.slots * 4);
  const sab = new SharedArrayBuffer(HEADER_BYTES + gensBytes + blockBytes * g.slots);
  const h = new Int32Array(sab, 0, 4);
  h[H_SLOTS] = g.slots;
  h[H_SEND] = g.sendCapacity;
  h[H_RECV] = g.recvCapacity;
  Atomics.store(h, H_MAGIC, MAGIC);
  return sab;
}

export class SocketTable implements SocketTableGeometry {
  readonly slots: number;
  readonly sendCapacity: number;
  readonly recvCapacity: number;
  private readonly gens: Int32Array;
  private readonly blocks: (SocketBlock | undefined)[];
  private readonly blocksStart: number;
  private readonly blockBytes: number;

  constructor(readonly sab: SharedArrayBuffer) {
    const h = new Int32Array(sab, 0, 4);
    if (Atomics.load(h, H_MAGIC) !== MAGIC) throw invalidArg('sab', 'is not a socket table');
    this.slots = h[H_SLOTS]!;
    this.sendCapacity = h[H_SEND]!;
    this.recvCapacity = h[H_RECV]!;
    this.gens = new Int32Array(sab, HEADER_BYTES, this.slots);
    this.blocksStart = HEADER_BYTES + align64(this.slots * 4);
    this.blockBytes = align64(SocketBlock.bytesNeeded(this.sendCapacity, this.recvCapacity));
    this.blocks = new Array<SocketBlock | undefined>(this.slots);
  }

  /** The block of `slot` (views created on first use). */
  block(slot: number): SocketBlock {
    let b = this.blocks[slot];
    if (b === undefined) {
      if (!Number.isInteger(slot) || slot < 0 || slot >= this.slots) throw invalidArg('slot', `must be in [0, ${this.slots - 1}], got ${slot}`);
      b = new SocketBlock(this.sab, this.blocksStart + slot * this.blockBytes, this.sendCapacity, this.recvCapacity);
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
    return Atomics.add(this.gens, slot, 1) + 1;
  }
}
