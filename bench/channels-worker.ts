/**
 * Worker side of bench/channels.ts: producers and consumers for the shared
 * ring and for MessagePort, throughput and one-way wake-up latency.
 * Every role waits on a start flag so both sides begin together, then posts
 * one result object.
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { availableParallelism, loadavg } from 'node:os';
import { RingReader, RingWriter } from '../src/substrate/ring.js';
import { DoorbellRinger, DoorbellSleeper } from '../src/substrate/doorbell.js';
import { AdaptivePolling } from '../src/substrate/server-loop.js';

export type BenchRole =
  | { role: 'ring-producer'; sab: SharedArrayBuffer; count: number; batch: number }
  | { role: 'ring-consumer'; sab: SharedArrayBuffer; count: number; batch: number }
  | { role: 'port-producer'; port: MessagePort; count: number; batch: number; slotWords: number }
  | { role: 'port-consumer'; port: MessagePort; count: number; batch: number }
  | { role: 'ping-producer'; sab: SharedArrayBuffer; bell: SharedArrayBuffer; count: number; spacingUs: number; port?: MessagePort }
  | { role: 'ping-consumer'; sab: SharedArrayBuffer; bell: SharedArrayBuffer; count: number; mode: 'busy' | 'adaptive' | 'sleep' | 'port' | 'port-busy' | 'port-adaptive'; port?: MessagePort };

export interface BenchResult { ms: number; count: number; checksum: number; latenciesUs?: number[]; parks?: number; spins?: number }

const d = workerData as (BenchRole & { start: SharedArrayBuffer }) | null;

function nowNs(): number { return Number(process.hrtime.bigint()); }

function waitStart(): void {
  const s = new Int32Array(d!.start);
  Atomics.wait(s, 0, 0);
}

/**
 * Fruitless polls before a 20 us nap: pure spinners on an oversubscribed
 * machine collapse to the scheduler's time slice (see ring-pump.ts).
 */
const NAP_AFTER = 1000;
const napWord = new Int32Array(new SharedArrayBuffer(4));
function nap(): void { Atomics.wait(napWord, 0, 0, 0.02); }

function ringProducer(o: Extract<BenchRole, { role: 'ring-producer' }>): BenchResult {
  const w = new RingWriter(o.sab);
  const words = w.words;
  waitStart();
  const t0 = performance.now();
  let i = 0;
  let idle = 0;
  while (i < o.count) {
    let k = 0;
    while (k < o.batch && i < o.count) {
      const at = w.reserve();
      if (at < 0) { if (++idle >= NAP_AFTER) { idle = 0; w.publish(); nap(); } break; }
      idle = 0;
      words[at] = i; words[at + 1] = i ^ 0x5a5a5a5a;
      w.commit(); i++; k++;
    }
    w.publish();
  }
  return { ms: performance.now() - t0, count: i, checksum: 0 };
}

function ringConsumer(o: Extract<BenchRole, { role: 'ring-consumer' }>): BenchResult {
  const r = new RingReader(o.sab);
  const words = r.words;
  waitStart();
  const t0 = performance.now();
  let n = 0; let sum = 0; let idle = 0;
  while (n < o.count) {
    const at = r.peek();
    if (at < 0) { r.release(); if (++idle >= NAP_AFTER) { idle = 0; nap(); } continue; }
    idle = 0;
    sum = (sum + words[at]!) | 0;
    r.advance(); n++;
    if (r.unreleased >= o.batch) r.release();
  }
  r.release();
  return { ms: performance.now() - t0, count: n, checksum: sum };
}

function portProducer(o: Extract<BenchRole, { role: 'port-producer' }>): BenchResult {
  waitStart();
  const t0 = performance.now();
  let i = 0;
  while (i < o.count) {
    const n = Math.min(o.batch, o.count - i);
    const m = new Int32Array(n * o.slotWords);
    for (let k = 0; k < n; k++) { m[k * o.slotWords] = i + k; m[k * o.slotWords + 1] = (i + k) ^ 0x5a5a5a5a; }
    o.port.postMessage(m);
    i += n;
  }
  return { ms: performance.now() - t0, count: i, checksum: 0 };
}

function portConsumer(o: Extract<BenchRole, { role: 'port-consumer' }>): Promise<BenchResult> {
  return new Promise((resolve) => {
    let n = 0; let sum = 0; let t0 = 0;
    o.port.on('message', (m: Int32Array) => {
      if (n === 0) t0 = performance.now();
      const slot = m.length / Math.min(o.batch, o.count - n);
      for (let k = 0; k < m.length; k += slot) { sum = (sum + m[k]!) | 0; n++; }
      if (n >= o.count) { o.port.close(); resolve({ ms: performance.now() - t0, count: n, checksum: sum }); }
    });
    waitStart();
    t0 = performance.now();
  });
}

const pingNap = new Int32Array(new SharedArrayBuffer(4));

function pingProducer(o: Extract<BenchRole, { role: 'ping-producer' }>): BenchResult {
  const w = o.port ? null : new RingWriter(o.sab);
  const bell = new DoorbellRinger(o.bell);
  waitStart();
  let x = 12345;
  for (let i = 0; i < o.count; i++) {
    // Random spacing in [0.5, 1.5] x spacingUs so the consumer cannot phase-lock.
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    const gapUs = o.spacingUs * (0.5 + ((x >>> 0) % 1000) / 1000);
    if (gapUs >= 200) Atomics.wait(pingNap, 0, 0, gapUs / 1000);
    else { const until = performance.now() + gapUs / 1000; while (performance.now() < until) { /* busy */ } }
    const t = nowNs();
    if (w === null) { o.port!.postMessage([t % 1e9, Math.floor(t / 1e9)]); bell.ring(); continue; }
    while (!w.tryWrite([t % 1e9, Math.floor(t / 1e9)])) { /* full */ }
    w.publish();
    bell.ring();
  }
  return { ms: 0, count: o.count, checksum: 0 };
}

function latency(lo: number, hi: number): number {
  return (nowNs() - (hi * 1e9 + lo)) / 1000;
}

function pingConsumer(o: Extract<BenchRole, { role: 'ping-consumer' }>): Promise<BenchResult> | BenchResult {
  const lat: number[] = [];
  if (o.mode === 'port') {
    return new Promise((resolve) => {
      o.port!.on('message', (m: number[]) => {
        lat.push(latency(m[0]!, m[1]!));
        if (lat.length >= o.count) { o.port!.close(); resolve({ ms: 0, count: lat.length, checksum: 0, latenciesUs: lat }); }
      });
      waitStart();
    });
  }
  if (o.mode === 'port-busy' || o.mode === 'port-adaptive') return portPoll(o);
  const r = new RingReader(o.sab);
  const sleeper = new DoorbellSleeper(o.bell);
  const policy = new AdaptivePolling(o.mode === 'adaptive' ? 'adaptive' : o.mode, 30, 200);
  const dst = [0, 0];
  let parks = 0; let spins = 0;
  // Like the server loop: the machine's load average counts as runnable threads.
  const runnable = Math.max(2, loadavg()[0]!);
  const cores = availableParallelism();
  waitStart();
  while (lat.length < o.count) {
    if (r.tryRead(dst)) {
      lat.push(latency(dst[0]!, dst[1]!));
      r.release();
      policy.onWork(performance.now());
      continue;
    }
    if (performance.now() < policy.spinUntil(runnable, cores)) { spins++; continue; }
    sleeper.park(1000, () => r.available() === 0);
    parks++;
  }
  return { ms: 0, count: lat.length, checksum: 0, latenciesUs: lat, parks, spins };
}

/** A postMessage consumer that polls its port (receiveMessageOnPort) like a server loop would. */
function portPoll(o: Extract<BenchRole, { role: 'ping-consumer' }>): BenchResult {
  const lat: number[] = [];
  const sleeper = new DoorbellSleeper(o.bell);
  const policy = new AdaptivePolling(o.mode === 'port-busy' ? 'busy' : 'adaptive', 30, 200);
  const runnable = Math.max(2, loadavg()[0]!);
  const cores = availableParallelism();
  let parks = 0; let spins = 0;
  let pending: number[] | null = null;
  waitStart();
  while (lat.length < o.count) {
    const m = pending ?? (receiveMessageOnPort(o.port!)?.message as number[] | undefined) ?? null;
    pending = null;
    if (m !== null) {
      lat.push(latency(m[0]!, m[1]!));
      policy.onWork(performance.now());
      continue;
    }
    if (performance.now() < policy.spinUntil(runnable, cores)) { spins++; continue; }
    sleeper.park(1000, () => {
      pending = (receiveMessageOnPort(o.port!)?.message as number[] | undefined) ?? null;
      return pending === null;
    });
    parks++;
  }
  return { ms: 0, count: lat.length, checksum: 0, latenciesUs: lat, parks, spins };
}

async function main(): Promise<void> {
  if (!parentPort || !d) return;
  let res: BenchResult;
  switch (d.role) {
    case 'ring-producer': res = ringProducer(d); break;
    case 'ring-consumer': res = ringConsumer(d); break;
    case 'port-producer': res = portProducer(d); break;
    case 'port-consumer': res = await portConsumer(d); break;
    case 'ping-producer': res = pingProducer(d); break;
    case 'ping-consumer': res = await pingConsumer(d); break;
  }
  parentPort.postMessage(res);
}

void main();
