/**
 * `newtos top --port PORT [--once] [--interval-ms MS]`: a live view of a running
 * `newtos up --stats-port PORT` host, redrawn in place: its servers (state, generation,
 * restarts, messages per second, busy and park shares of their thread), its replicas
 * (frames per receive queue, which take new flows) and the replica monitor's last
 * decisions. The host side is `topSnapshot` (served as /top.json on the control port);
 * rates are differences between two snapshots, so `--once` takes two, `--interval-ms` apart.
 */
import type { Stack } from '../stack/host.js';
import { fetchControl } from './control-client.js';
import { NewtosError } from '../errors.js';

/** What /top.json carries: plain numbers read from shared memory, no message to any server. */
export interface TopSnapshot {
  readonly name: string;
  readonly at: number;
  readonly cores: number;
  readonly runnableThreads: number;
  readonly servers: readonly {
    readonly name: string; readonly thread: string; readonly state: string; readonly generation: number; readonly restarts: number;
    readonly msgsIn: number; readonly msgsOut: number; readonly busyMs: number; readonly idleMs: number; readonly parks: number; readonly backpressure: number;
  }[];
  readonly replicas: { readonly count: number; readonly active: number; readonly rxQueueFrames: readonly number[] };
  readonly monitor: readonly { readonly at: number; readonly action: string; readonly from: number; readonly to: number; readonly loadFps: number }[];
  /** Per thread (named by its first server): the polling mode and core the thread monitor chose. */
  readonly threads: readonly { readonly thread: string; readonly polling: string; readonly core: string }[];
  readonly threadDecisions: readonly { readonly at: number; readonly thread: string; readonly action: string; readonly from: string; readonly to: string; readonly reason: string }[];
  /** The placement the servers run in now, and the placement monitor's last decisions. */
  readonly placement: string;
  readonly placementDecisions: readonly { readonly at: number; readonly from: string; readonly to: string; readonly reason: string }[];
}

export function topSnapshot(name: string, stack: Stack): TopSnapshot {
  const sys = stack.supervisor.snapshot();
  return {
    name, at: sys.at, cores: sys.cores, runnableThreads: sys.runnableThreads,
    servers: sys.servers.map((s) => ({
      name: s.name, thread: s.thread, state: s.stateName, generation: s.generation, restarts: s.restarts,
      msgsIn: s.msgsIn, msgsOut: s.msgsOut, busyMs: s.busyMs, idleMs: s.idleMs, parks: s.parks, backpressure: s.backpressure,
    })),
    replicas: { count: stack.steering.replicas, active: stack.activeReplicas(), rxQueueFrames: stack.driverStats().rxQueueFrames },
    monitor: stack.monitorDecisions().slice(-5).map((d) => ({ at: d.at, action: d.action, from: d.from, to: d.to, loadFps: d.loadFps })),
    threads: threadPlacement(stack, sys.servers.filter((s) => s.thread === s.name).map((s) => s.name)),
    threadDecisions: stack.threadDecisions().slice(-5).map((d) => ({ at: d.at, thread: d.thread, action: d.action, from: d.from, to: d.to, reason: d.reason })),
    placement: stack.placement,
    placementDecisions: stack.regroupDecisions().slice(-3).map((d) => ({ at: d.at, from: d.from, to: d.to, reason: d.reason })),
  };
}

/** Each thread's polling mode and core: the thread monitor's last word on it (or the defaults). */
function threadPlacement(stack: Stack, threads: readonly string[]): TopSnapshot['threads'] {
  const decisions = stack.threadDecisions();
  return threads.map((thread) => {
    let polling = stack.config.monitor === false || stack.config.monitor?.enabled === false ? 'configured' : 'adaptive';
    let core = 'any';
    for (const d of decisions) {
      if (d.thread !== thread) continue;
      if (d.action === 'polling') polling = d.to;
      else core = d.action === 'pin' ? d.to : 'any';
    }
    return { thread, polling, core };
  });
}

const pad = (v: unknown, n: number): string => String(v).padStart(n);

/** One frame of the view from two snapshots `prev` → `cur`. */
export function renderTop(prev: TopSnapshot, cur: TopSnapshot): string {
  const dt = Math.max(1, cur.at - prev.at) / 1000;
  const before = new Map(prev.servers.map((s) => [s.name, s]));
  const lines = [
    `newtos top — ${cur.name}: ${cur.servers.length} servers, ${cur.replicas.count} replica(s) (${cur.replicas.active} taking new flows), ` +
    `${cur.runnableThreads} runnable threads on ${cur.cores} cores`,
    '',
    `${'SERVER'.padEnd(10)} ${'STATE'.padEnd(8)} ${pad('GEN', 4)} ${pad('RESTARTS', 8)} ${pad('IN/s', 9)} ${pad('OUT/s', 9)} ${pad('BUSY%', 6)} ${pad('PARKS/s', 8)} ${pad('BACKPR', 7)}`,
  ];
  for (const s of cur.servers) {
    const p = before.get(s.name) ?? s;
    // Busy and idle time are the thread's (its first server's), as parks are.
    const owner = cur.servers.find((x) => x.name === s.thread) ?? s;
    const ownerPrev = before.get(owner.name) ?? owner;
    const busy = owner.busyMs - ownerPrev.busyMs;
    const idle = owner.idleMs - ownerPrev.idleMs;
    const busyPct = busy + idle > 0 ? (100 * busy) / (busy + idle) : 0;
    lines.push(`${s.name.padEnd(10)} ${s.state.padEnd(8)} ${pad(s.generation, 4)} ${pad(s.restarts, 8)} ${pad(Math.round((s.msgsIn - p.msgsIn) / dt), 9)} ` +
      `${pad(Math.round((s.msgsOut - p.msgsOut) / dt), 9)} ${pad(s.thread === s.name ? busyPct.toFixed(1) : '"', 6)} ` +
      `${pad(s.thread === s.name ? Math.round((s.parks - p.parks) / dt) : '"', 8)} ${pad(s.backpressure, 7)}`);
  }
  lines.push('', `RECEIVE QUEUES (frames/s): ${cur.replicas.rxQueueFrames.map((f, q) =>
    `q${q}${q < cur.replicas.active ? '' : ' (draining)'} ${Math.round((f - (prev.replicas.rxQueueFrames[q] ?? f)) / dt)}`).join('  ')}`);
  lines.push(`MONITOR: ${cur.replicas.count === 1 ? 'off (one replica)' : cur.monitor.length === 0 ? 'no decision yet' : 'last decisions'}`);
  for (const d of cur.monitor) lines.push(`  ${(d.at / 1000).toFixed(1)} s: ${d.action} ${d.from} → ${d.to} at ${d.loadFps} frames/s`);
  lines.push('', `THREADS: ${cur.threads.map((t) => `${t.thread} ${t.polling}${t.core === 'any' ? '' : ` @core ${t.core}`}`).join('  ')}`);
  for (const d of cur.threadDecisions) lines.push(`  ${(d.at / 1000).toFixed(1)} s: ${d.thread} ${d.action} ${d.from} → ${d.to} (${d.reason})`);
  lines.push(`PLACEMENT: ${cur.placement} (${cur.threads.length} server threads)`);
  for (const d of cur.placementDecisions ?? []) lines.push(`  ${(d.at / 1000).toFixed(1)} s: ${d.from} → ${d.to} (${d.reason})`);
  return `${lines.join('\n')}\n`;
}

async function fetchTop(port: number): Promise<TopSnapshot> {
  const res = await fetchControl(port, '/top.json', AbortSignal.timeout(10_000));
  if (!res.ok) throw new NewtosError('ERR_NEWTOS_CONTROL', `127.0.0.1:${port} answered ${res.status} ${res.statusText}: is it the --stats-port of a newtos host?`);
  return await res.json() as TopSnapshot;
}

/** Runs the view until SIGINT (or one frame with `once`). */
export async function top(port: number, intervalMs: number, once: boolean, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  let prev = await fetchTop(port);
  let stop = false;
  const onSignal = (): void => { stop = true; };
  process.once('SIGINT', onSignal);
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, intervalMs));
      const cur = await fetchTop(port);
      // Clear and home, then the frame: redrawn in place.
      out.write(once ? renderTop(prev, cur) : `\x1b[H\x1b[2J${renderTop(prev, cur)}`);
      prev = cur;
      if (once || stop) return;
    }
  } finally {
    process.off('SIGINT', onSignal);
  }
}
