// A real producer and a real consumer in two worker threads stream ~50 MB
// through one ByteRing in a SharedArrayBuffer; both hash what they saw.
// This file is both the test (main thread) and the two workers (it spawns itself).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { BYTE_RING_LAYOUT, ByteRing } from '../../src/abi/byte-ring.js';
import { SeededRng } from '../../src/random/rng.js';

interface Job {
  role: 'producer' | 'consumer';
  sab: SharedArrayBuffer;
  offset: number;
  capacity: number;
  total: number;
  seed: number;
}

const HEAD = BYTE_RING_LAYOUT.headOffset >> 2;
const TAIL = BYTE_RING_LAYOUT.tailOffset >> 2;

function runProducer(job: Job): string {
  const ring = new ByteRing(job.sab, job.offset, job.capacity);
  const ctrl = new Int32Array(job.sab, job.offset, BYTE_RING_LAYOUT.dataOffset >> 2);
  const rng = new SeededRng(job.seed);
  const pattern = new Uint8Array(1 << 20);
  for (let i = 0; i < pattern.length; i++) pattern[i] = rng.nextU32() & 0xff;
  const hash = createHash('sha256');
  let sent = 0;
  while (sent < job.total) {
    const want = Math.min(job.total - sent, 1 + (rng.nextU32() % 20000));
    const at = sent % (pattern.length - 20000);
    const chunk = pattern.subarray(at, at + want);
    let n: number;
    if ((rng.nextU32() & 3) === 0 && chunk.length > 1) {
      // Out of order, as TCP would: second half first, then the first half, then publish.
      const half = chunk.length >> 1;
      const b = ring.writeAt(half, chunk.subarray(half));
      const a = b > 0 ? ring.writeAt(0, chunk.subarray(0, half)) : 0;
      n = a === half ? half + b : 0;
      if (n > 0) ring.advanceTail(n);
    } else {
      n = ring.write(chunk);
    }
    if (n === 0) {
      // Full: sleep until the consumer moves head (it notifies after each release).
      Atomics.wait(ctrl, HEAD, Atomics.load(ctrl, HEAD), 50);
      continue;
    }
    Atomics.notify(ctrl, TAIL);
    hash.update(chunk.subarray(0, n));
    sent += n;
  }
  return hash.digest('hex');
}

function runConsumer(job: Job): string {
  const ring = new ByteRing(job.sab, job.offset, job.capacity);
  const ctrl = new Int32Array(job.sab, job.offset, BYTE_RING_LAYOUT.dataOffset >> 2);
  const rng = new SeededRng(job.seed ^ 0x5a5a5a5a);
  const hash = createHash('sha256');
  const dst = new Uint8Array(40000);
  let got = 0;
  while (got < job.total) {
    const tail = Atomics.load(ctrl, TAIL);
    if (ring.available() === 0) {
      Atomics.wait(ctrl, TAIL, tail, 50);
      continue;
    }
    const mode = rng.nextU32() % 3;
    const len = 1 + (rng.nextU32() % dst.length);
    let n: number;
    if (mode === 0) {
      n = ring.read(dst.subarray(0, len));
      hash.update(dst.subarray(0, n));
    } else if (mode === 1) {
      // Peek at an offset first (retransmission-style), then read from 0.
      const off = rng.nextU32() % 100;
      ring.copyOut(off, dst, 0, len);
      n = ring.copyOut(0, dst, 0, len);
      hash.update(dst.subarray(0, n));
      ring.consume(n);
    } else {
      const v = ring.views(0, len);
      n = 0;
      for (const a of v) { hash.update(a); n += a.length; }
      ring.consume(n);
    }
    Atomics.notify(ctrl, HEAD);
    got += n;
  }
  return hash.digest('hex');
}

if (!isMainThread) {
  const job = workerData as Job;
  const digest = job.role === 'producer' ? runProducer(job) : runConsumer(job);
  parentPort!.postMessage(digest);
} else {
  test('two worker threads stream 50 MB through a SharedArrayBuffer ring; hashes match', async () => {
    const capacity = 65521; // prime, so counters wrap at a multiple of it, not at 2**32
    const offset = 64;
    const sab = new SharedArrayBuffer(offset + ByteRing.bytesNeeded(capacity));
    const base = { sab, offset, capacity, total: 50 * 1024 * 1024, seed: 1234 };
    const run = (role: Job['role']): Promise<string> => new Promise((resolve, reject) => {
      const w = new Worker(new URL(import.meta.url), { workerData: { ...base, role } });
      w.once('message', resolve);
      w.once('error', reject);
      w.once('exit', (code) => { if (code !== 0) reject(new Error(`${role} exited ${code}`)); });
    });
    const [p, c] = await Promise.all([run('producer'), run('consumer')]);
    assert.match(p, /^[0-9a-f]{64}$/);
    assert.equal(c, p);
    const ring = new ByteRing(sab, offset, capacity);
    assert.equal(ring.available(), 0);
  });
}
