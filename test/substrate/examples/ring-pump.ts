/**
 * Worker entry that pumps messages through one ring as fast as it can: the
 * producer writes `count` messages (seq = i, arg0 = mix(i)) in batches of
 * 1..maxBatch published with one tail store each; the consumer checks that
 * every seq arrives in order and folds a checksum over (seq, arg0). Used by
 * the two-worker ring test. Both sides busy-poll, but after NAP_AFTER
 * fruitless polls they nap for a few tens of microseconds: two pure spinners
 * on an oversubscribed machine (more runnable threads than cores) otherwise
 * collapse to the scheduler's time slice, each spinning while the other waits
 * for a core.
 *
 * workerData: { role: 'producer' | 'consumer', sab, count, maxBatch, seed }
 * posts: { role, count, checksum, errors, ms }
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { RingReader, RingWriter } from '../../../src/substrate/ring.js';
import { MessageView } from '../../../src/substrate/message.js';
import { EXAMPLE_MSG } from '../../../src/substrate/message-types.js';

export interface RingPumpData {
  role: 'producer' | 'consumer';
  sab: SharedArrayBuffer;
  count: number;
  maxBatch: number;
  seed: number;
}

export interface RingPumpResult {
  role: 'producer' | 'consumer';
  count: number;
  checksum: number;
  errors: number;
  ms: number;
}

/** Per-message payload word derived from the sequence number. */
export function pumpMix(i: number): number {
  let z = Math.imul(i ^ (i >>> 16), 0x45d9f3b);
  z = Math.imul(z ^ (z >>> 16), 0x45d9f3b);
  return (z ^ (z >>> 16)) | 0;
}

/** Checksum step shared by producer expectation and consumer. */
export function pumpFold(acc: number, seq: number, arg0: number): number {
  return (Math.imul(acc ^ seq, 16777619) + arg0) | 0;
}

const NAP_AFTER = 1000;
const napWord = new Int32Array(new SharedArrayBuffer(4));
function nap(): void { Atomics.wait(napWord, 0, 0, 0.02); }

function produce(d: RingPumpData): RingPumpResult {
  const w = new RingWriter(d.sab);
  const v = new MessageView(w.words);
  let rnd = d.seed | 1;
  let i = 0;
  let idle = 0;
  let checksum = 0;
  const t0 = performance.now();
  while (i < d.count) {
    rnd ^= rnd << 13; rnd ^= rnd >>> 17; rnd ^= rnd << 5;
    let batch = d.maxBatch <= 1 ? 1 : 1 + ((rnd >>> 0) % d.maxBatch);
    if (batch > d.count - i) batch = d.count - i;
    let k = 0;
    while (k < batch) {
      const at = w.reserve();
      if (at < 0) {
        if (w.pending > 0) w.publish();
        if (++idle >= NAP_AFTER) { idle = 0; nap(); }
        continue;
      }
      idle = 0;
      const a = pumpMix(i);
      v.at(at).set(EXAMPLE_MSG.DATA, 1, i).setArg(0, a);
      checksum = pumpFold(checksum, i, a);
      w.commit();
      i++; k++;
    }
    w.publish();
  }
  return { role: 'producer', count: i, checksum, errors: 0, ms: performance.now() - t0 };
}

function consume(d: RingPumpData): RingPumpResult {
  const r = new RingReader(d.sab);
  const v = new MessageView(r.words);
  let expect = 0;
  let idle = 0;
  let errors = 0;
  let checksum = 0;
  const t0 = performance.now();
  while (expect < d.count) {
    const at = r.peek();
    if (at < 0) {
      r.release();
      if (++idle >= NAP_AFTER) { idle = 0; nap(); }
      continue;
    }
    idle = 0;
    v.at(at);
    const seq = v.seq;
    if (seq !== expect >>> 0 || v.type !== EXAMPLE_MSG.DATA) errors++;
    checksum = pumpFold(checksum, seq | 0, v.argI32(0));
    r.advance();
    expect++;
    if (r.unreleased >= 64) r.release();
  }
  r.release();
  return { role: 'consumer', count: expect, checksum, errors, ms: performance.now() - t0 };
}

if (parentPort && workerData && (workerData as RingPumpData).sab) {
  const d = workerData as RingPumpData;
  parentPort.postMessage(d.role === 'producer' ? produce(d) : consume(d));
}
