/**
 * The substrate demo: the four-server chain source → relay1 → relay2 → sink,
 * each in its own worker thread, packets in a pool lent by rich pointer.
 * Half-way through, relay1 is crashed by fault injection; the supervisor
 * restarts it from a warm spare and the sink still gets every message exactly
 * once, in order. Prints a short summary (the lead's CLI calls this until
 * the full stack demo exists).
 */
import { Supervisor, type Recovery, type SystemSnapshot } from '../../src/substrate/supervisor.js';
import { chainManifest, createSinkResults } from './examples/chain.js';
import { SINK_RESULT } from './examples/sink.js';

export interface SubstrateDemoOptions {
  /** Approximate run time in seconds (default 3). */
  readonly seconds?: number;
  /** Messages per ms the source emits (default 50). */
  readonly ratePerMs?: number;
  /** Where lines go (default console.log). */
  readonly print?: (line: string) => void;
}

export interface SubstrateDemoSummary {
  readonly sent: number;
  readonly received: number;
  readonly duplicatesDropped: number;
  readonly lost: number;
  readonly inOrder: boolean;
  readonly recoveries: readonly Recovery[];
  readonly snapshot: SystemSnapshot;
}

export async function runSubstrateDemo(opts: SubstrateDemoOptions = {}): Promise<SubstrateDemoSummary> {
  const print = opts.print ?? ((l: string) => console.log(l));
  const seconds = opts.seconds ?? 3;
  const rate = opts.ratePerMs ?? 50;
  const count = Math.round(seconds * 1000 * rate);
  const results = createSinkResults();
  const r = new Int32Array(results);
  print(`newtos substrate demo: source -> relay1 -> relay2 -> sink, one worker thread each, ${count} messages at ${rate}/ms`);
  const sup = await Supervisor.start(chainManifest({ count, ratePerMs: rate, usePool: true, supervisor: { spares: 1 } }, results));
  try {
    await sleep(seconds * 500);
    print(`t=${(seconds / 2).toFixed(1)}s: injecting a crash into relay1 (generation ${sup.generation('relay1')})`);
    sup.inject('relay1', 'crash');
    const deadline = Date.now() + seconds * 1000 + 60_000;
    while (Atomics.load(r, SINK_RESULT.NEXT) < count && Date.now() < deadline) await sleep(20);
    const t0 = Date.now();
    while (sup.recoveries.some((x) => Number.isNaN(x.recoveryMs)) && Date.now() - t0 < 2000) await sleep(5);
    const snapshot = sup.snapshot();
    const summary: SubstrateDemoSummary = {
      sent: count,
      received: Atomics.load(r, SINK_RESULT.RECEIVED),
      duplicatesDropped: Atomics.load(r, SINK_RESULT.DUPLICATES),
      lost: count - Atomics.load(r, SINK_RESULT.RECEIVED),
      inOrder: Atomics.load(r, SINK_RESULT.GAPS) === 0 && Atomics.load(r, SINK_RESULT.BAD_PAYLOAD) === 0,
      recoveries: sup.recoveries,
      snapshot,
    };
    print(`messages: sent ${summary.sent}, received exactly once ${summary.received}, lost ${summary.lost}, duplicates dropped by the sink ${summary.duplicatesDropped}, in order: ${summary.inOrder ? 'yes' : 'NO'}`);
    for (const x of summary.recoveries) {
      print(`restart: ${x.server} (${x.cause}) -> generation ${x.generation}; crash to successor's first message ${x.recoveryMs.toFixed(2)} ms`);
    }
    print('server    gen restarts   msgs in  msgs out   parks  wake-ups     spins  busy ms  idle ms');
    for (const s of snapshot.servers) {
      print(`${s.name.padEnd(9)} ${String(s.generation).padStart(3)} ${String(s.restarts).padStart(8)} ${String(s.msgsIn).padStart(9)} ${String(s.msgsOut).padStart(9)} ${String(s.parks).padStart(7)} ${String(s.wakeups).padStart(9)} ${String(s.spins).padStart(9)} ${s.busyMs.toFixed(0).padStart(8)} ${s.idleMs.toFixed(0).padStart(8)}`);
    }
    for (const p of snapshot.pools) print(`pool ${p.name} (owner ${p.owner}): ${p.buffers} buffers, ${p.free} free, ${p.inFlight} in flight, ${p.returned} returned, ${p.held} held`);
    return summary;
  } finally {
    await sup.stop();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}
