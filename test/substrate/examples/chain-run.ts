/** Shared by the supervisor fault tests: start the example chain, and wait for a condition with a bound. */
import { Supervisor } from '../../../src/substrate/supervisor.js';
import { chainManifest, createSinkResults, type ChainOptions } from './chain.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 5 ms; throws `timed out: what` after `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out: ${what}`);
    await sleep(5);
  }
}

/** The chain source → relay1 → relay2 → sink under a supervisor, and the sink's result words. */
export async function chain(o: ChainOptions): Promise<{ sup: Supervisor; r: Int32Array }> {
  const results = createSinkResults();
  return { sup: await Supervisor.start(chainManifest(o, results)), r: new Int32Array(results) };
}
