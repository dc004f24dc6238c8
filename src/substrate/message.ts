/**
 * The fixed binary layout of a message in a ring slot (12 words = 48 bytes):
 *
 * | word | field                                                     |
 * | ---- | --------------------------------------------------------- |
 * | 0    | type (low 16 bits, message-types.ts) · flags (high 16)    |
 * | 1    | sender generation                                         |
 * | 2    | sender sequence number (u32)                              |
 * | 3    | rich pointer: pool id (low 16) · pool generation (high 16) |
 * | 4    | rich pointer: byte offset of the data in the pool's SAB   |
 * | 5    | rich pointer: data length in bytes                        |
 * | 6-11 | six argument words (meaning defined per type)             |
 *
 * Messages are plain data discriminated by the numeric type; nothing but
 * numbers crosses a thread. `MessageView` reads and writes the fields of one
 * slot in place, so the hot path allocates nothing: a server keeps one view
 * per ring and moves it from slot to slot with `at()`.
 */
import {
  MSG_ARG0, MSG_ARGS, MSG_GEN, MSG_LENGTH, MSG_OFFSET, MSG_POOL, MSG_SEQ, MSG_TYPE, MSG_WORDS, NO_POOL,
} from './layout.js';

export { MSG_WORDS, MSG_BYTES, MSG_ARGS, NO_POOL } from './layout.js';

/** A rich pointer: which pool (and its owner's generation), where, how long. */
export interface RichPointer {
  readonly pool: number;
  readonly poolGen: number;
  readonly offset: number;
  readonly length: number;
}

/** A message as a plain value (tests, control paths). The hot path uses MessageView. */
export interface MessageRepr {
  readonly type: number;
  readonly flags: number;
  readonly gen: number;
  readonly seq: number;
  readonly pool: number;
  readonly poolGen: number;
  readonly offset: number;
  readonly length: number;
  readonly args: readonly number[];
}

/** Reusable in-place view of one message slot. */
export class MessageView {
  words: Int32Array;
  base = 0;

  constructor(words: Int32Array, base = 0) {
    this.words = words;
    this.base = base;
  }

  /** Points the view at the slot starting at word `base`; returns this. */
  at(base: number): this {
    this.base = base;
    return this;
  }

  get type(): number { return this.words[this.base + MSG_TYPE]! & 0xffff; }
  get flags(): number { return this.words[this.base + MSG_TYPE]! >>> 16; }
  get gen(): number { return this.words[this.base + MSG_GEN]! >>> 0; }
  get seq(): number { return this.words[this.base + MSG_SEQ]! >>> 0; }
  get pool(): number { return this.words[this.base + MSG_POOL]! & 0xffff; }
  get poolGen(): number { return this.words[this.base + MSG_POOL]! >>> 16; }
  get offset(): number { return this.words[this.base + MSG_OFFSET]! >>> 0; }
  get length(): number { return this.words[this.base + MSG_LENGTH]! >>> 0; }
  get hasBuffer(): boolean { return (this.words[this.base + MSG_POOL]! & 0xffff) !== NO_POOL; }

  /** Argument word i (0..5) as u32. */
  arg(i: number): number { return this.words[this.base + MSG_ARG0 + i]! >>> 0; }
  /** Argument word i (0..5) as i32. */
  argI32(i: number): number { return this.words[this.base + MSG_ARG0 + i]!; }

  /** Writes the header; clears the pointer to "no buffer". */
  set(type: number, gen: number, seq: number, flags = 0): this {
    const w = this.words; const b = this.base;
    w[b + MSG_TYPE] = (type & 0xffff) | (flags << 16);
    w[b + MSG_GEN] = gen;
    w[b + MSG_SEQ] = seq;
    w[b + MSG_POOL] = NO_POOL;
    w[b + MSG_OFFSET] = 0;
    w[b + MSG_LENGTH] = 0;
    return this;
  }

  setType(type: number, flags = 0): this { this.words[this.base + MSG_TYPE] = (type & 0xffff) | (flags << 16); return this; }
  setGen(gen: number): this { this.words[this.base + MSG_GEN] = gen; return this; }
  setSeq(seq: number): this { this.words[this.base + MSG_SEQ] = seq; return this; }

  /** Sets the rich pointer. */
  setPointer(pool: number, poolGen: number, offset: number, length: number): this {
    const w = this.words; const b = this.base;
    w[b + MSG_POOL] = (pool & 0xffff) | ((poolGen & 0xffff) << 16);
    w[b + MSG_OFFSET] = offset;
    w[b + MSG_LENGTH] = length;
    return this;
  }

  setArg(i: number, value: number): this { this.words[this.base + MSG_ARG0 + i] = value; return this; }

  /** Copies all words of another message (e.g. a relay forwarding in place). */
  copyFrom(src: MessageView): this {
    const s = src.words; const sb = src.base; const d = this.words; const db = this.base;
    for (let i = 0; i < MSG_WORDS; i++) d[db + i] = s[sb + i]!;
    return this;
  }

  /** Allocates a plain value (not for the hot path). */
  toRepr(): MessageRepr {
    const args: number[] = [];
    for (let i = 0; i < MSG_ARGS; i++) args.push(this.arg(i));
    return {
      type: this.type, flags: this.flags, gen: this.gen, seq: this.seq, pool: this.pool,
      poolGen: this.poolGen, offset: this.offset, length: this.length, args,
    };
  }
}

/** Encodes a plain message into `words` at `base` (MSG_WORDS words). */
export function encodeMessage(m: MessageRepr, words: Int32Array, base: number): void {
  const v = new MessageView(words, base);
  v.set(m.type, m.gen, m.seq, m.flags).setPointer(m.pool, m.poolGen, m.offset, m.length);
  for (let i = 0; i < MSG_ARGS; i++) v.setArg(i, m.args[i] ?? 0);
}

/** Decodes the message at `base` into a plain value. */
export function decodeMessage(words: Int32Array, base: number): MessageRepr {
  return new MessageView(words, base).toRepr();
}
