// Random and mutated frames for the fuzz tests, from a seeded RNG (deterministic runs).
import { SeededRng } from '../../src/random/rng.js';
import { internetChecksum } from '../../src/wire/checksum.js';
import { allCapturedFrames } from '../fixtures/frames.js';

const INTERESTING = [0x00, 0x01, 0x02, 0x05, 0x06, 0x08, 0x11, 0x3f, 0x40, 0x45, 0x46, 0x4f, 0x7f, 0x80, 0x81, 0xfe, 0xff];

export class Mutator {
  readonly rng: SeededRng;
  readonly seeds: Uint8Array[];

  constructor(seed: number, extraSeeds: Uint8Array[] = []) {
    this.rng = new SeededRng(seed);
    this.seeds = [...allCapturedFrames(), ...extraSeeds];
  }

  int(n: number): number { return this.rng.nextU32() % n; }

  random(maxLen = 1600): Uint8Array {
    const b = new Uint8Array(this.int(maxLen));
    for (let i = 0; i < b.length; i++) b[i] = this.rng.nextU32();
    return b;
  }

  /** A captured frame with 1..4 mutations; half the time the IPv4 header checksum is repaired. */
  mutated(): Uint8Array {
    let f = this.seeds[this.int(this.seeds.length)]!.slice();
    const n = 1 + this.int(4);
    for (let k = 0; k < n; k++) {
      const op = this.int(6);
      if (f.length === 0) break;
      const at = this.int(f.length);
      switch (op) {
        case 0: f[at] = f[at]! ^ (1 << this.int(8)); break;
        case 1: f[at] = INTERESTING[this.int(INTERESTING.length)]!; break;
        case 2: f = f.slice(0, this.int(f.length + 1)); break;
        case 3: { const g = new Uint8Array(f.length + 1 + this.int(64)); g.set(f); for (let i = f.length; i < g.length; i++) g[i] = this.rng.nextU32(); f = g; break; }
        // Header fields that steer parsing: IHL/version, total length, fragment word, UDP/TCP length-ish bytes.
        case 4: { const fields = [14, 16, 17, 20, 21, 23, 38, 39, 46]; const p = fields[this.int(fields.length)]!; if (p < f.length) f[p] = this.rng.nextU32(); break; }
        case 5: f[at] = this.rng.nextU32(); break;
      }
    }
    if (this.int(2) === 0 && f.length >= 34 && f[12] === 0x08 && f[13] === 0x00) {
      const hl = (f[14]! & 0x0f) * 4;
      if (hl >= 20 && 14 + hl <= f.length) {
        f[24] = 0; f[25] = 0;
        const ck = internetChecksum(f, 14, 14 + hl);
        f[24] = ck >>> 8; f[25] = ck;
      }
    }
    return f;
  }

  next(): Uint8Array {
    return this.int(8) === 0 ? this.random() : this.mutated();
  }
}

/**
 * A view that throws on any element read outside [0, length): plain typed
 * arrays return undefined there, which would hide an out-of-range read.
 */
export function strictBytes(bytes: Uint8Array): Uint8Array {
  return new Proxy(bytes, {
    get(target, prop) {
      if (typeof prop === 'string' && prop.length > 0 && prop.length < 12 && /^-?[0-9]+$/.test(prop)) {
        const i = Number(prop);
        if (i < 0 || i >= target.length) throw new RangeError(`out-of-range read at ${i} (length ${target.length})`);
        return target[i];
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
