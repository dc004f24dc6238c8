/**
 * Times the stack's deliveries into one socket's receive ring from a thread of its own.
 *
 * The fault experiment's receiver timestamps 'data' events on the application's thread, which
 * also runs the supervisor, the pacing of the virtual-switch sender and both hosts' sockets: its
 * own timer and GC stalls (5-20 ms on a 2-core machine) could show up as gaps in goodput where
 * the stack delivered on time. This sampler watches the ring's tail word (bytes TCP published)
 * every ~0.25 ms from a worker and records when it moved, on the process's monotonic clock
 * (`monotonicMs`), so a row can give the gap the stack itself left beside the one the
 * application saw (on 2 cores the two came out within a millisecond or two of each other: the
 * pauses are the stack threads' and the sender's scheduling). It observes only: it never consumes, so a stalled application still fills
 * the ring and closes the window, and that shows here too.
 */
import { Worker } from 'node:worker_threads';
import { waitAsync } from '../substrate/doorbell.js';

/** Pairs (time ms, tail) the sampler can hold: ~16 s of samples at one per 0.25 ms. */
const MAX_SAMPLES = 1 << 16;

const SAMPLER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { buffer, index, out, ctl, periodMs } = workerData;
const tail = new Int32Array(buffer);
const samples = new Float64Array(out);
const control = new Int32Array(ctl);
const max = samples.length >> 1;
let n = 0;
let last = -1;
Atomics.store(control, 2, 1);
Atomics.notify(control, 2);
while (Atomics.load(control, 0) === 0) {
  const v = Atomics.load(tail, index) >>> 0;
  if (v !== last && n < max) {
    samples[2 * n] = Number(process.hrtime.bigint()) / 1e6;
    samples[2 * n + 1] = v;
    n++;
    last = v;
    Atomics.store(control, 1, n);
  }
  Atomics.wait(control, 0, 0, periodMs);
}
`;

export interface DeliverySample {
  /** When the sampler saw the tail move, monotonic ms (the supervisor's clock). */
  readonly t: number;
  /** Bytes published so far (free-running modulo 2**32). */
  readonly tail: number;
}

export class DeliverySampler {
  private constructor(private readonly worker: Worker, private readonly out: SharedArrayBuffer, private readonly ctl: Int32Array) {}

  /** Starts watching `word` (a receive ring's tail, NetSocket.receiveTailWord()). */
  static start(word: { readonly buffer: ArrayBuffer | SharedArrayBuffer; readonly index: number }, periodMs = 0.25): DeliverySampler {
    if (!(word.buffer instanceof SharedArrayBuffer)) throw new TypeError('the receive ring is not in shared memory: nothing to watch from another thread');
    const out = new SharedArrayBuffer(MAX_SAMPLES * 2 * 8);
    const ctl = new SharedArrayBuffer(12);
    const worker = new Worker(SAMPLER_SOURCE, { eval: true, workerData: { buffer: word.buffer, index: word.index, out, ctl, periodMs } });
    worker.unref();
    worker.on('error', () => { /* the samples so far stay readable */ });
    return new DeliverySampler(worker, out, new Int32Array(ctl));
  }

  /** Resolves once the sampler's thread watches (a worker takes some ms to start). */
  async ready(): Promise<void> {
    for (let i = 0; i < 50 && Atomics.load(this.ctl, 2) === 0; i++) await waitAsync(this.ctl, 2, 0, 200);
    if (Atomics.load(this.ctl, 2) === 0) throw new Error('the delivery sampler did not start within 10 s');
  }

  /** Stops the sampler and returns what it saw, oldest first. */
  async stop(): Promise<DeliverySample[]> {
    Atomics.store(this.ctl, 0, 1);
    Atomics.notify(this.ctl, 0);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { void this.worker.terminate().then(() => resolve()); }, 1000);
      this.worker.once('exit', () => { clearTimeout(timer); resolve(); });
    });
    const n = Atomics.load(this.ctl, 1);
    const f = new Float64Array(this.out);
    const samples: DeliverySample[] = [];
    for (let i = 0; i < n; i++) samples.push({ t: f[2 * i]!, tail: f[2 * i + 1]! });
    return samples;
  }
}
