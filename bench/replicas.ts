/**
 * npm run bench:replicas [-- --json] [--smoke]: two newtos hosts on the virtual switch with
 * 1, 2 and 4 replicas each; per count: connections per second (connect, 1 byte echoed,
 * close, `conns` of them, 16 at a time) and the aggregate throughput of `flows` flows
 * echoing `bytes` each at once, beside the process's CPU time. Then a crash of replica 1's
 * TCP during such transfers: how many connections of other replicas were lost (hash of
 * the bytes received). Runs unchanged on a larger machine; on 2 cores the replicas share
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

/** One echo flow; resolves true when the bytes came back intact. */
function echo(b: Stack, size: number): Promise<boolean> {
  return new Promise((resolve) => {
    const data = randomBytes(size);
    const chunks: Buffer[] = [];
    const c = b.net.connect({ port: 7, host: '10.0.0.1' });
    c.on('error', () => resolve(false));
    c.on('connect', () => c.end(data));
    c.on('data', (d: Buffer) => chunks.push(d));
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

async function crash(): Promise<number> {
  const [a, b] = await hosts(2);
  try {
    const server = a.net.createServer((s: NetSocket) => s.pipe(s));
    await new Promise<void>((r) => server.listen(7, r));
    const results = Array.from({ length: flows }, () => echo(b, bytes));
    await new Promise((r) => setTimeout(r, 100));
    a.supervisor.inject('tcp-1', 'crash');
    const ok = await Promise.all(results);
    // Connections alternate over replicas (SOCK turns); those of replica 0 are the even ones.
    return ok.filter((x, i) => i % 2 === 0 && !x).length;
  } finally {
    await Promise.allSettled([a.close(), b.close()]);
  }
}

const rows = [];
for (const n of counts) rows.push(await run(n));
const withMonitor = await monitored(Math.max(...counts));
rows.push(withMonitor);
const lost = await crash();
const out = {
  smoke, cores: cpus().length, rows, max_replicas: Math.max(...counts), other_replica_connections_lost_on_crash: lost,
  monitor_decisions: (withMonitor['decisions'] as string[]).length,
};
if (!json) {
  for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
  process.stdout.write(`other replicas' connections lost on a tcp-1 crash: ${lost}\n`);
}
process.stdout.write(`${JSON.stringify(out)}\n`);
