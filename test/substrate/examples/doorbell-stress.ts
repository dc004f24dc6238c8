/**
 * Worker entry for the doorbell stress test: a producer and a consumer with
 * random pauses on both sides (busy pauses and real sleeps), the consumer
 * parking on the doorbell with a long time-out. A lost wake-up shows up as a
 * park that times out while a message is waiting; a lost message as a seq
 * gap.
 *
 * workerData: { role, ring, bell, count, seed, parkTimeoutMs }
 * posts: { received, errors, parks, wakeups, timeouts, notifies }
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RingReader, RingWriter } from '../../../src/substrate/ring.js';
import { readSync } from 'node:fs';
import { DoorbellRinger, DoorbellSleeper } from '../../../src/substrate/doorbell.js';
import { loadTapAddon, WAIT_READABLE } from '../../../src/driver/nic/tap.js';

export interface DoorbellStressData {
  role: 'producer' | 'consumer';
  ring: SharedArrayBuffer;
  bell: SharedArrayBuffer;
  count: number;
  seed: number;
  parkTimeoutMs: number;
  /**
   * The consumer sleeps beside a "device" (an eventfd nobody writes) in poll(2) instead of on
   * the count word, woken through this eventfd (DoorbellSleeper.sleepBeside; needs the addon).
   */
  besideFds?: { readonly device: number; readonly wake: number };
}

export interface DoorbellStressResult {
  received: number;
  errors: number;
  parks: number;
  wakeups: number;
  timeouts: number;
  notifies: number;
}

function rng(seed: number): () => number {
  let x = seed | 1;
  return () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x >>> 0; };
}

const nap = new Int32Array(new SharedArrayBuffer(4));

function pause(r: () => number): void {
  const k = r() % 100;
  if (k < 60) return;
  if (k < 95) { const until = performance.now() + (r() % 40) / 1000; while (performance.now() < until) { /* busy */ } return; }
  Atomics.wait(nap, 0, 0, (r() % 2000) / 1000);
}

function produce(d: DoorbellStressData): DoorbellStressResult {
  const w = new RingWriter(d.ring);
  const bell = new DoorbellRinger(d.bell);
  const r = rng(d.seed);
  let i = 0;
  while (i < d.count) {
    const batch = 1 + (r() % 4);
    for (let k = 0; k < batch && i < d.count; k++) {
      if (!w.tryWrite([i])) break;
      i++;
    }
    w.publish();
    bell.ring();
    pause(r);
  }
  return { received: 0, errors: 0, parks: 0, wakeups: 0, timeouts: 0, notifies: bell.notifies };
}

function consume(d: DoorbellStressData): DoorbellStressResult {
  const rd = new RingReader(d.ring);
  const sleeper = new DoorbellSleeper(d.bell);
  if (d.besideFds !== undefined) {
    const addon = loadTapAddon();
    const { device, wake } = d.besideFds;
    const drain = new Uint8Array(8);
    const ok = sleeper.sleepBeside((t) => {
      const ev = addon.wait(device, WAIT_READABLE, Math.max(1, Math.ceil(t)), wake);
      if ((ev >>> 8) !== 0) { try { readSync(wake, drain); } catch { /* drained */ } }
      return ev !== 0;
    }, wake);
    if (!ok) throw new Error('sleepBeside refused');
  }
  const r = rng(d.seed);
  const res = { received: 0, errors: 0, parks: 0, wakeups: 0, timeouts: 0, notifies: 0 };
  const dst = [0];
  while (res.received < d.count) {
    let got = 0;
    while (rd.tryRead(dst)) {
      if (dst[0] !== res.received) res.errors++;
      res.received++; got++;
    }
    rd.release();
    if (got > 0) { pause(r); continue; }
    const p = sleeper.park(d.parkTimeoutMs, () => rd.available() === 0);
    if (p === 'not-parked') continue;
    res.parks++;
    if (p === 'woken') res.wakeups++;
    else res.timeouts++;
  }
  return res;
}

if (parentPort && workerData && (workerData as DoorbellStressData).bell) {
  const d = workerData as DoorbellStressData;
  parentPort.postMessage(d.role === 'producer' ? produce(d) : consume(d));
}
