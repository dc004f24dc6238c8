/**
 * npm run bench:replicas [-- --json] [--smoke]: two newtos hosts on the virtual switch with
 * 1, 2 and 4 replicas each; per count: connections per second (connect, 1 byte echoed,
 * close, `conns` of them, 16 at a time) and the aggregate throughput of `flows` flows
 * echoing `bytes` each at once, beside the process's CPU time. Then a crash of replica 1's
 * TCP during such transfers: how many connections of other replicas were lost (hash of
 * the bytes received) and their longest pause, beside the same run without a crash; and the
 * servers moved to the grouped placement and back during such transfers (Stack.regroup). Runs unchanged on a larger machine; on 2 cores the replicas share
 * the same two cores, so more replicas cannot go faster here (see README).
 */
import { createHash, randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { createVswitch } from '../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../src/stack/host.js';
import type { NetSocket } from '../src/app/net-socket.js';

const smoke = process.argv.includes('--smoke');
const json = process.argv.includes('--json');
const counts = smoke ? [1, 2] : [1, 2, 4];
const conns = smoke ? 32 : 400;
const flows = smoke ? 4 : 16;
const bytes = smoke ? 256 * 1024 : 8 * 1024 * 1024;

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The monitor's load threshold in the load-step run: small, since the virtual switch's frames are 64 KiB super-frames. */
const MONITOR_FPS = 500;

async function hosts(replicas: number, monitor: Record<string, unknown> = { enabled: false }): Promise<[Stack, Stack]> {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const host = (name: string, ip: string): Promise<Stack> => createStack({
    name, replicas, monitor, interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
  }, { switches: { sw0: sw } });
  return [await host('a', '10.0.0.1/24'), await host('b', '10.0.0.2/24')];
}

/** One echo flow; resolves true when the bytes came back intact. `arrivals` gets the time of every chunk back. */
function echo(b: Stack, size: number, arrivals?: number[]): Promise<boolean> {
  return new Promise((resolve) => {
    const data = randomBytes(size);
    const chunks: Buffer[] = [];
    const c = b.net.connect({ port: 7, host: '10.0.0.1' });
    c.on('error', () => resolve(false));
    c.on('connect', () => c.end(data));
    c.on('data', (d: Buffer) => { chunks.push(d); arrivals?.push(performance.now()); });
    c.on('end', () => resolve(sha(Buffer.concat(chunks)) === sha(data)));
  });
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  for (const end = performance.now() + ms; performance.now() < end;) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

/**
 * The monitor choosing: `max` replicas started; idle until it drains down to one, then the
 * same load as run(), then idle again. Reports the figures under load and every decision.
 */
async function monitored(max: number): Promise<Record<string, unknown>> {
  const [a, b] = await hosts(max, { perReplicaFps: MONITOR_FPS, holdMs: smoke ? 300 : 1000 });
  try {
    await until(() => a.activeReplicas() === 1, 15_000);
    let peak = a.activeReplicas();
    const watch = setInterval(() => { peak = Math.max(peak, a.activeReplicas()); }, 50);
    const r = await load(a, b);
    clearInterval(watch);
    await until(() => a.activeReplicas() === 1, 15_000);
    const decisions = a.monitorDecisions().map((d) => `${d.action} ${d.from}->${d.to} at ${d.loadFps} fps`);
    await a.close();
    await b.close();
    return { replicas: `monitor (max ${max}, ${MONITOR_FPS} frames/s per replica)`, ...r, peak_active_replicas: peak, decisions };
  } catch (e) {
    await Promise.allSettled([a.close(), b.close()]);
    throw e;
  }
}

/** Connections per second, then `flows` echo flows at once, on a's echo listener. */
async function load(a: Stack, b: Stack): Promise<Record<string, number>> {
  const server = a.net.createServer((s: NetSocket) => s.pipe(s));
  await new Promise<void>((r) => server.listen(7, r));
  const cpu0 = process.cpuUsage();
  let t = performance.now();
  let left = conns;
  await Promise.all(Array.from({ length: 16 }, async () => { while (left-- > 0) await echo(b, 1); }));
  const connsPerSec = conns / ((performance.now() - t) / 1000);
  t = performance.now();
  const ok = await Promise.all(Array.from({ length: flows }, () => echo(b, bytes)));
  const gbit = (2 * flows * bytes * 8) / ((performance.now() - t) / 1000) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  server.close();
  return { conns_per_s: Math.round(connsPerSec), echo_gbit_s: Number(gbit.toFixed(2)), flows_intact: ok.filter(Boolean).length,
    cpu_s: Number(((cpu.user + cpu.system) / 1e6).toFixed(2)) };
}

async function run(replicas: number): Promise<Record<string, unknown>> {
  const [a, b] = await hosts(replicas);
  try {
    const r = await load(a, b);
    await a.close();
    await b.close();
    return { replicas, ...r, rx_queue_frames: a.driverStats().rxQueueFrames };
  } catch (e) {
    await Promise.allSettled([a.close(), b.close()]);
    throw e;
  }
}

/** The longest time without a chunk in any of `flows` from `t0` on, ms. */
function longestGap(flows: readonly number[][], t0: number): number {
  let gap = 0;
  for (const a of flows) {
    const after = a.filter((x) => x >= t0);
    for (let i = 1; i < after.length; i++) gap = Math.max(gap, after[i]! - after[i - 1]!);
  }
  return Math.round(gap * 10) / 10;
}

/** An echo listener on a and `flows` echo flows from b, 100 ms under way: their arrival times and results. */
async function flowsUnderWay(a: Stack, b: Stack): Promise<{ arrivals: number[][]; results: Promise<boolean>[] }> {
  const server = a.net.createServer((s: NetSocket) => s.pipe(s));
  await new Promise<void>((r) => server.listen(7, r));
  const arrivals = Array.from({ length: flows }, (): number[] => []);
  const results = arrivals.map((x) => echo(b, bytes, x));
  await new Promise((r) => setTimeout(r, 100));
  return { arrivals, results };
}

/**
 * 2 replicas, `flows` echo flows, and 100 ms in: a crash of replica 1's TCP (`fault` true) or
 * nothing (the baseline). Replica 0's flows' connections lost and their longest pause.
 */
async function crash(fault: boolean): Promise<{ lost: number; gapMs: number }> {
  const [a, b] = await hosts(2);
  try {
    const { arrivals, results } = await flowsUnderWay(a, b);
    const t0 = performance.now();
    if (fault) a.supervisor.inject('tcp-1', 'crash');
    const ok = await Promise.all(results);
    // Connections alternate over replicas (SOCK turns); those of replica 0 are the even ones.
    const even = (_: unknown, i: number): boolean => i % 2 === 0;
    return { lost: ok.filter((x, i) => even(x, i) && !x).length, gapMs: longestGap(arrivals.filter(even), t0) };
  } finally {
    await Promise.allSettled([a.close(), b.close()]);
  }
}

/**
 * 2 replicas placed isolated, `flows` echo flows, and 100 ms in the servers move to the grouped
 * placement and, once that is done, back (Stack.regroup): flows intact, the pauses.
 */
async function regroup(): Promise<Record<string, number>> {
  const [a, b] = await hosts(2);
  try {
    const { arrivals, results } = await flowsUnderWay(a, b);
    const t0 = performance.now();
    const there = await a.regroup('grouped');
    const back = await a.regroup('isolated');
    const ok = await Promise.all(results);
    return {
      flows_intact: ok.filter(Boolean).length, to_grouped_pause_ms: Math.round(there.pauseMs), to_isolated_pause_ms: Math.round(back.pauseMs),
      to_grouped_total_ms: Math.round(there.durationMs), to_isolated_total_ms: Math.round(back.durationMs), longest_flow_gap_ms: longestGap(arrivals, t0),
    };
  } finally {
    await Promise.allSettled([a.close(), b.close()]);
  }
}

const rows = [];
for (const n of counts) rows.push(await run(n));
const withMonitor = await monitored(Math.max(...counts));
rows.push(withMonitor);
const baseline = await crash(false);
const crashed = await crash(true);
const moved = await regroup();
const out = {
  smoke, cores: cpus().length, rows, max_replicas: Math.max(...counts), other_replica_connections_lost_on_crash: crashed.lost,
  other_replica_longest_gap_ms_on_crash: crashed.gapMs, other_replica_longest_gap_ms_without_crash: baseline.gapMs,
  monitor_decisions: (withMonitor['decisions'] as string[]).length, regroup: moved,
};
if (!json) {
  for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
  process.stdout.write(`other replicas' connections lost on a tcp-1 crash: ${crashed.lost}; their longest pause ${crashed.gapMs} ms (${baseline.gapMs} ms in the same run without a crash)\n`);
  process.stdout.write(`regroup isolated → grouped → isolated during ${flows} flows: ${JSON.stringify(moved)}\n`);
}
process.stdout.write(`${JSON.stringify(out)}\n`);
