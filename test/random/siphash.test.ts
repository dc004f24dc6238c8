import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SipHash24 } from '../../src/random/siphash.js';

// Reference vectors from the SipHash reference implementation (vectors.h,
// vectors_sip64): key 00 01 .. 0f, message i = bytes 00 01 .. (i-1); each
// output is the 64-bit result written little-endian.
const VECTORS = [
  '310e0edd47db6f72', 'fd67dc93c539f874', '5a4fa9d909806c0d', '2d7efbd796666785',
  'b7877127e09427cf', '8da699cd64557618', 'cee3fe586e46c9cb', '37d1018bf50002ab',
  '6224939a79f5f593', 'b0e4a90bdf82009e', 'f3b9dd94c5bb5d7a', 'a7ad6b22462fb3f4',
  'fbe50e86bc8f1e75', '903d84c02756ea14', 'eef27a8e90ca23f7', 'e545be4961ca29a1',
  'db9bc2577fcc2a3f', '9447be2cf5e99a69', '9cd38d96f0b3c14b', 'bd6179a71dc96dbb',
  '98eea21af25cd6be', 'c7673b2eb0cbf2d0', '883ea3e395675393', 'c8ce5ccd8c030ca8',
  '94af49f6c650adb8', 'eab8858ade92e1bc', 'f315bb5bb835d817', 'adcf6b0763612e2f',
  'a5c91da7acaa4dde', '716595876650a2a6', '28ef495c53a387ad', '42c341d8fa92d832',
  'ce7cf2722f512771', 'e37859f94623f3a7', '381205bb1ab0e012', 'ae97a10fd434e015',
  'b4a31508beff4d31', '81396229f0907902', '4d0cf49ee5d4dcca', '5c73336a76d8bf9a',
  'd0a704536ba93e0e', '925958fcd6420cad', 'a915c29bc8067318', '952b79f3bc0aa6d4',
  'f21df2e41d4535f9', '87577519048f53a9', '10a56cf5dfcd9adb', 'eb75095ccd986cd0',
  '51a9cb9ecba312e6', '96afadfc2ce666c7', '72fe52975a4364ee', '5a1645b276d592a1',
  'b274cb8ebf87870a', '6f9bb4203de7b381', 'eaecb2a30b22a87f', '9924a43cc1315724',
  'bd838d3aafbf8db7', '0b1a2a3265d51aea', '135079a3231ce660', '932b2846e4d70666',
  'e1915f5cb1eca46c', 'f325965ca16d629f', '575ff28e60381be5', '724506eb4c328a95',
];

const KEY = Uint8Array.from({ length: 16 }, (_, i) => i);

/** The 64-bit result as the 8 little-endian bytes vectors.h lists. */
function leHex(h: SipHash24, lo: number): string {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(lo >>> 0, 0);
  b.writeUInt32LE(h.hi >>> 0, 4);
  return b.toString('hex');
}

test('reference vectors: all 64 message lengths (0..63 bytes)', () => {
  const h = new SipHash24(KEY);
  for (let n = 0; n < 64; n++) {
    const msg = Uint8Array.from({ length: n }, (_, i) => i);
    assert.equal(leHex(h, h.hash(msg)), VECTORS[n], `length ${n}`);
  }
});

test('paper Appendix A: 15-byte message gives a129ca6149be45e5', () => {
  const h = new SipHash24(KEY);
  const lo = h.hash(Uint8Array.from({ length: 15 }, (_, i) => i));
  assert.equal(h.lastHex(lo), 'a129ca6149be45e5');
});

test('offset/length select a sub-range; key length is checked', () => {
  const h = new SipHash24(KEY);
  const buf = Uint8Array.from({ length: 40 }, (_, i) => (i + 250) & 0xff); // bytes 250..255, 0..33
  const lo = h.hash(buf, 6, 20);
  assert.equal(leHex(h, lo), VECTORS[20]);
  assert.throws(() => new SipHash24(new Uint8Array(8)), RangeError);
});

/** Straightforward BigInt SipHash-2-4 (test-only reference). */
function referenceBigInt(key: Uint8Array, msg: Uint8Array): bigint {
  const M = (1n << 64n) - 1n;
  const rotl = (x: bigint, b: bigint): bigint => ((x << b) | (x >> (64n - b))) & M;
  const rd = (b: Uint8Array, p: number, n: number): bigint => {
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[p + i]!);
    return v;
  };
  const k0 = rd(key, 0, 8);
  const k1 = rd(key, 8, 8);
  let v0 = k0 ^ 0x736f6d6570736575n;
  let v1 = k1 ^ 0x646f72616e646f6dn;
  let v2 = k0 ^ 0x6c7967656e657261n;
  let v3 = k1 ^ 0x7465646279746573n;
  const round = (): void => {
    v0 = (v0 + v1) & M; v1 = rotl(v1, 13n); v1 ^= v0; v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & M; v3 = rotl(v3, 16n); v3 ^= v2;
    v0 = (v0 + v3) & M; v3 = rotl(v3, 21n); v3 ^= v0;
    v2 = (v2 + v1) & M; v1 = rotl(v1, 17n); v1 ^= v2; v2 = rotl(v2, 32n);
  };
  const full = msg.length - (msg.length % 8);
  for (let p = 0; p < full; p += 8) {
    const m = rd(msg, p, 8);
    v3 ^= m; round(); round(); v0 ^= m;
  }
  const last = rd(msg, full, msg.length - full) | (BigInt(msg.length & 0xff) << 56n);
  v3 ^= last; round(); round(); v0 ^= last;
  v2 ^= 0xffn;
  round(); round(); round(); round();
  return v0 ^ v1 ^ v2 ^ v3;
}

test('property: equals a BigInt reference for random keys and messages up to 300 bytes', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ maxLength: 300 }), (key, msg) => {
    const h = new SipHash24(key);
    const lo = h.hash(msg);
    assert.equal((BigInt(h.hi) << 32n) | BigInt(lo), referenceBigInt(key, msg));
  }), { numRuns: 500 });
});

test('property: hashWords(words) equals hash over the little-endian bytes', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 12 }), (key, words) => {
    const h = new SipHash24(key);
    const bytes = Buffer.alloc(words.length * 4);
    words.forEach((w, i) => bytes.writeUInt32LE(w, i * 4));
    const a = h.hash(bytes);
    const ahi = h.hi;
    const b = h.hashWords(words);
    assert.equal(b, a);
    assert.equal(h.hi, ahi);
  }), { numRuns: 500 });
});
