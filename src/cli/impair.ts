/**
 * `newtos impair --tap A --tap B [--loss P] [--duplicate P] [--reorder P]
 * [--delay MS] [--rate R] [--seed N]`: an impairing Ethernet bridge between
 * two TAP devices, netem's effects in user space for kernels and containers
 * without sch_netem. Move each TAP into the namespace (or VM) of one end
 * (`ip link set A netns NS`; the device stays attached to this process) and
 * give the ends addresses: everything between them crosses the bridge,
 * impaired the same way in both directions (impair-bridge.ts).
 *
 * Prints one line when both devices are open ("impair: A <-> B up ..."); on
 * SIGINT or SIGTERM prints one JSON line of counters per direction ("A>B")
 * and exits 0. The devices vanish with the process.
 *
 * One thread blocks in poll(2) on both devices (the TAP addon's `wait` with a
 * second fd), and gives the event loop a turn every few ms so signals land.
 */
import { parseArgs } from 'node:util';
import { NewtosError, invalidArg } from '../errors.js';
import { SeededRng } from '../random/rng.js';
import { checkImpairments, type LinkImpairments } from '../driver/nic/impairment.js';
import { ImpairedDirection } from '../driver/nic/impair-bridge.js';
import { WAIT_READABLE, loadTapAddon } from '../driver/nic/tap.js';

/** Receive slot size: any frame a TAP without virtio-net headers hands over (MTU up to 64 KiB). */
const SLOT = 65552;
const SLOTS = 16;
/** Longest stretch without giving the event loop a turn, ms. */
const SLICE_MS = 20;

/** "5%", "0.05" → 0.05. */
function probability(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^([0-9]*\.?[0-9]+)(%?)$/.exec(text);
  const p = m === null ? NaN : Number(m[1]) / (m[2] === '%' ? 100 : 1);
  if (!(p >= 0 && p <= 1)) throw invalidArg(`--${flag}`, `must be a probability (0..1 or 0%..100%), not '${text}'`);
  return p;
}

/** "100mbit", "1gbit", "500kbit", "64000" (bit/s) → bit/s. */
function rate(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^([0-9]*\.?[0-9]+)(k|m|g)?(bit)?$/i.exec(text);
  const mult = { k: 1e3, m: 1e6, g: 1e9 }[(m?.[2] ?? '').toLowerCase() as 'k'] ?? 1;
  const r = m === null ? NaN : Number(m[1]) * mult;
  if (!(r > 0)) throw invalidArg('--rate', `must be a rate such as 100mbit, 1gbit or 64000 (bit/s), not '${text}'`);
  return r;
}

function number(flag: string, text: string | undefined, integer: boolean): number | undefined {
  if (text === undefined) return undefined;
  const n = text.trim() === '' ? NaN : Number(text);
  if (!(Number.isFinite(n) && n >= 0 && (!integer || Number.isInteger(n)))) {
    throw invalidArg(`--${flag}`, `must be a ${integer ? 'non-negative integer' : 'number >= 0'}, not '${text}'`);
  }
  return n;
}

/** Parses the flags into the two names and the impairments (throws ERR_INVALID_ARG_VALUE naming the flag). */
export function parseImpairArgs(args: string[]): { taps: [string, string]; imp: LinkImpairments } {
  const { values, positionals } = parseArgs({
    args, strict: true, allowPositionals: true,
    options: {
      tap: { type: 'string', multiple: true }, loss: { type: 'string' }, duplicate: { type: 'string' }, reorder: { type: 'string' },
      delay: { type: 'string' }, rate: { type: 'string' }, seed: { type: 'string' },
    },
  });
  if (positionals.length > 0) throw invalidArg('impair', `takes no operands, got '${positionals[0]}'`);
  const taps = values.tap ?? [];
  if (taps.length !== 2) throw invalidArg('--tap', `must be given twice (the two devices to bridge), got ${taps.length}`);
  if (taps[0] === taps[1]) throw invalidArg('--tap', `must name two different devices, got '${taps[0]}' twice`);
  for (const t of taps) if (t === '' || Buffer.byteLength(t) > 15) throw invalidArg('--tap', `must be a device name of 1 to 15 bytes, not '${t}'`);
  const imp: LinkImpairments = {
    loss: probability('loss', values.loss), duplicate: probability('duplicate', values.duplicate),
    reorder: probability('reorder', values.reorder), delayMs: number('delay', values.delay, false),
    rateBps: rate(values.rate), seed: number('seed', values.seed, true) ?? 1,
  };
  checkImpairments(imp, 'impair');
  return { taps: [taps[0]!, taps[1]!], imp };
}

function describe(imp: LinkImpairments): string {
  const pct = (p: number | undefined): string => `${((p ?? 0) * 100).toFixed(2).replace(/\.?0+$/, '')}%`;
  return `loss ${pct(imp.loss)} duplicate ${pct(imp.duplicate)} reorder ${pct(imp.reorder)} delay ${imp.delayMs ?? 0}ms`
    + `${imp.rateBps !== undefined ? ` rate ${imp.rateBps} bit/s` : ''} seed ${imp.seed}`;
}

/** Runs the bridge until SIGINT/SIGTERM. Resolves after the report is printed. */
export async function runImpair(args: string[]): Promise<void> {
  const { taps, imp } = parseImpairArgs(args);
  const addon = loadTapAddon();
  const fds: number[] = [];
  const names: string[] = [];
  try {
    for (const name of taps) {
      const { fd, name: actual } = addon.open(name, 0);
      fds.push(fd);
      names.push(actual);
      addon.setOffload(fd, 0); // whole, checksummed frames only: the bridge forwards them as they are
    }
  } catch (e) {
    for (const fd of fds) addon.close(fd);
    const code = (e as { code?: string }).code ?? 'ERR_TAP_UNAVAILABLE';
    throw new NewtosError(code, `impair: cannot open TAP device '${taps[fds.length]}': ${(e as Error).message}`, { cause: e });
  }
  const seed = imp.seed ?? 1;
  const dirs = [new ImpairedDirection(imp, new SeededRng(seed * 7919 >>> 0)), new ImpairedDirection(imp, new SeededRng((seed * 7919 + 1) >>> 0))];
  const memory = new Uint8Array(SLOT * SLOTS);
  const offsets = Uint32Array.from({ length: SLOTS }, (_, i) => i * SLOT);
  const lengths = new Uint32Array(SLOTS);
  const ioStats = new Uint32Array(4);
  const one = new Uint32Array(1);
  const oneLen = new Uint32Array(1);
  const t0 = performance.now();
  let stopping = false;

  process.stdout.write(`impair: ${names[0]} <-> ${names[1]} up (${describe(imp)})\n`);
  const done = new Promise<void>((resolve) => {
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      for (const fd of fds) addon.close(fd);
      process.stdout.write(`${JSON.stringify({ [`${names[0]}>${names[1]}`]: dirs[0]!.stats, [`${names[1]}>${names[0]}`]: dirs[1]!.stats })}\n`);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

  const pump = (): void => {
    const sliceEnd = performance.now() + SLICE_MS;
    while (!stopping) {
      let now = performance.now() - t0;
      let read = 0;
      for (let d = 0; d < 2; d++) {
        const n = addon.readBatch(fds[d]!, memory, offsets, SLOT, lengths, SLOTS, ioStats);
        read += n;
        for (let i = 0; i < n; i++) dirs[d]!.push(memory.subarray(offsets[i]!, offsets[i]! + lengths[i]!), now);
      }
      now = performance.now() - t0;
      for (let d = 0; d < 2; d++) {
        const dir = dirs[d]!;
        dir.takeDue(now, (frame) => {
          oneLen[0] = frame.length;
          if (addon.writeBatch(fds[1 - d]!, frame, one, oneLen, 1, ioStats) === 1) dir.stats.sent++;
          else dir.stats.sendErrors++;
        });
      }
      if (read === 0) {
        const due = Math.min(dirs[0]!.nextDueMs(), dirs[1]!.nextDueMs()) - (performance.now() - t0);
        // poll(2) counts whole ms: wait at most until the next frame is due (a short spin below 0.25 ms).
        const timeout = Math.max(0, Math.min(SLICE_MS, Math.ceil(due - 0.25)));
        if (timeout > 0) addon.wait(fds[0]!, WAIT_READABLE, timeout, fds[1]!);
      }
      if (performance.now() >= sliceEnd) break;
    }
    if (!stopping) setImmediate(pump);
  };
  setImmediate(pump);
  await done;
}
