/**
 * npm run bench:flood — SYN-flood resistance of a newtos host beside Linux's, in one run:
 *
 *   newtos 10.97.0.2/16 ── TAP ══ 10.97.0.1 (namespace NG_N: generator + client)
 *   Linux  10.96.0.2/16 (namespace NL: Node http server) ── veth ══ 10.96.0.1 (NG_L: generator + client)
 *
 * The same generator (bench/flood-syn.c, compiled with cc at bench time) writes random-source
 * SYNs (sources random inside the /16, never a real host's address) to the server's port 80
 * with an AF_PACKET socket on the client side's device, while a client in the same namespace
 * fetches a small page with curl in a loop (each fetch bounded). Phases per host: no flood, a
 * fixed rate (--rate, default 100k/s), and the highest rate the generator reaches. For each:
 * the legitimate fetches' success rate and p50/p99 time (a failed fetch counts with the time
 * it took), SYNs/s offered (what the generator sent) and processed (TCP segments the server's
 * TCP took in: newtos's TCP counters, Linux's TcpInSegs in its namespace), and what the link
 * dropped before the stack (TAP queue / veth backlog).
 *
 * `--soak SECONDS` also floods newtos at the highest rate for that long and prints the
 * process's RSS, heap and external memory every 2 s during the flood and for 20 s after.
 * `--smoke`: short phases at a low rate (the test command runs it). `--json`: one JSON object.
 * `--placement P` places the newtos host's servers (default isolated, as createStack);
 * `--txqueuelen N` sets the TAP device's kernel queue (frames waiting for the driver; default 1000).
 * `--filter` gives the newtos host a stateful server filter (SYNs to port 80 open a state,
 * everything else needs one), so every spoofed SYN takes a place in its state table; the
 * phases then also show the filter's states, evictions and refusals; the Linux host gets the
 * same filter with nftables and conntrack (`ct state established,related accept`, new SYNs to
 * port 80 accepted, default drop both ways) where `nft` is installed, and says so where not.
 * Needs root, the TAP addon, cc, curl; otherwise every figure is null with the reason.
 * Frames go only into the TAP device and veth pair made here; everything is removed again.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStack, type Stack } from '../src/stack/host.js';
import { loadTapAddon } from '../src/driver/nic/tap.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const smoke = args.includes('--smoke');
const numArg = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} needs a non-negative number, got '${args[i + 1] ?? ''}'`);
  return v;
};
const RATE = numArg('--rate', smoke ? 2000 : 100_000);
const PHASE_S = numArg('--seconds', smoke ? 1.5 : 8);
const SOAK_S = numArg('--soak', 0);
const strArg = (name: string): string | undefined => { const i = args.indexOf(name); return i < 0 ? undefined : args[i + 1]; };
const PLACEMENT = (strArg('--placement') ?? 'isolated') as 'isolated' | 'grouped' | 'monolithic' | 'auto';
if (!['isolated', 'grouped', 'monolithic', 'auto'].includes(PLACEMENT)) throw new Error(`--placement must be isolated, grouped, monolithic or auto, got '${PLACEMENT}'`);
const TXQLEN = strArg('--txqueuelen');
const FILTER = args.includes('--filter') ? 'default drop\nallow in proto tcp to any port 80 flags S/SA keep state\n' : undefined;
const only = args.includes('--newtos-only') ? 'newtos' : args.includes('--linux-only') ? 'linux' : 'both';
const log = (s: string): void => { if (!json) console.log(s); };

const SRC_C = fileURLToPath(new URL('../../bench/flood-syn.c', import.meta.url));
const PAGE = 'hello from the flood bench\n';
const NEWTOS_MAC = '02:00:00:97:00:02';

interface Fetches { readonly count: number; readonly ok: number; readonly successPct: number | null; readonly p50Ms: number | null; readonly p99Ms: number | null }
interface Phase {
  readonly phase: 'idle' | 'fixed' | 'max';
  readonly fetches: Fetches;
  readonly synsOfferedPerS: number;
  readonly synsProcessedPerS: number | null;
  readonly linkDropped: number | null;
  /** newtos only: TCP counters over the phase (SYN cookies sent, buffer allocation failures). */
  readonly tcp?: Record<string, number>;
  /** newtos only: each server thread's busy time over the phase, in % of one core (where the SYN path's time goes). */
  readonly busyPct?: Record<string, number>;
  /** newtos only: IP's packets in and delivered, and its drops by reason, over the phase (non-zero ones). */
  readonly ip?: Record<string, number>;
  /** newtos only: times the driver had no receive buffer to read the TAP into, and the ms it spent so. */
  readonly driver?: Record<string, number>;
  /** newtos with --filter: the filter's states made, evicted and refused (table full) and its drops over the phase. */
  readonly pf?: Record<string, number>;
}
interface HostRun { readonly phases: Phase[]; readonly note?: string; readonly filter?: string }

/** The Linux host's counterpart of FILTER (nftables; conntrack tracks the flows). */
const NFT_FILTER = `table inet newtosbench {
  chain in { type filter hook input priority 0; policy drop; iif lo accept; ct state established,related accept; tcp dport 80 tcp flags & (syn | ack) == syn ct state new accept; }
  chain out { type filter hook output priority 0; policy drop; oif lo accept; ct state established,related accept; }
}`;

function unavailable(): string {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'needs root (network namespaces, a TAP device, AF_PACKET)';
  try { loadTapAddon(); } catch (e) { return `TAP addon missing: ${(e as Error).message}`; }
  for (const tool of ['cc', 'curl', 'ip', 'nstat']) {
    try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); } catch { return `needs ${tool}`; }
  }
  if (!existsSync(SRC_C)) return `generator source ${SRC_C} missing`;
  return '';
}

const sh = (...argv: string[]): string => execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function collect(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
    child.on('close', () => resolve(out));
  });
}

/**
 * curl in a loop inside `ns` for `seconds` (each fetch bounded by 4 s, 20 ms apart): one line
 * per fetch, "<http code> <seconds>". A shell loop, started once per phase: no fork of this
 * (large) process per fetch.
 */
function clientLoop(ns: string, url: string, seconds: number): Promise<string> {
  const script = `end=$(( $(date +%s%N) + ${Math.round(seconds * 1e9)} ))
while [ $(date +%s%N) -lt $end ]; do
  curl -s -o /dev/null --max-time 4 -w '%{http_code} %{time_total}\\n' ${url}
  sleep 0.02
done`;
  return collect(spawn('ip', ['netns', 'exec', ns, 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'ignore'] }));
}

function summarise(out: string): Fetches {
  const rows = out.trim().split('\n').filter((l) => l !== '').map((l) => l.split(' '));
  const times = rows.map((r) => Number(r[1]) * 1000).sort((a, b) => a - b);
  const ok = rows.filter((r) => r[0] === '200').length;
  const pct = (q: number): number | null => (times.length === 0 ? null : round(times[Math.min(times.length - 1, Math.floor(q * times.length))]!));
  return { count: rows.length, ok, successPct: rows.length === 0 ? null : round((100 * ok) / rows.length), p50Ms: pct(0.5), p99Ms: pct(0.99) };
}

function round(x: number): number { return Math.round(x * 10) / 10; }

/** The generator, for `seconds` at `rate` SYNs/s (0: as fast as it goes): SYNs sent and the seconds it ran. */
async function generate(bin: string, ns: string, dev: string, mac: string, dst: string, rate: number, seconds: number): Promise<{ sent: number; refused: number; seconds: number }> {
  const child = spawn('ip', ['netns', 'exec', ns, bin, dev, mac, dst, '80', dst, '16', String(rate), String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  const out = await collect(child);
  const m = /sent (\d+) refused (\d+) seconds ([\d.]+)/.exec(out);
  if (m === null) throw new Error(`generator failed: ${err.trim() || out.trim()}`);
  return { sent: Number(m[1]), refused: Number(m[2]), seconds: Number(m[3]) };
}

/** One flooded (or idle) phase: the client loop beside the generator. */
async function phase(
  name: Phase['phase'], bin: string, side: { ns: string; dev: string; mac: string; dst: string },
  counter: () => { processed: number; dropped: number; tcp?: Record<string, number>; busyMs?: Record<string, number>; ip?: Record<string, number>; driver?: Record<string, number>; pf?: Record<string, number> },
): Promise<Phase> {
  const before = counter();
  const t0 = performance.now();
  const rate = name === 'fixed' ? RATE : 0;
  const fetching = clientLoop(side.ns, `http://${side.dst}/`, PHASE_S);
  const gen = name === 'idle' ? null : generate(bin, side.ns, side.dev, side.mac, side.dst, rate, PHASE_S);
  const [out, g] = await Promise.all([fetching, gen]);
  const after = counter();
  const s = (performance.now() - t0) / 1000;
  return {
    phase: name,
    fetches: summarise(out),
    synsOfferedPerS: g === null ? 0 : Math.round((g.sent + g.refused) / g.seconds),
    synsProcessedPerS: Math.round((after.processed - before.processed) / (g?.seconds ?? s)),
    linkDropped: after.dropped - before.dropped,
    ...(after.tcp !== undefined && before.tcp !== undefined
      ? { tcp: Object.fromEntries(Object.entries(after.tcp).map(([k, v]) => [k, v - (before.tcp![k] ?? 0)])) } : {}),
    ...(after.pf !== undefined && before.pf !== undefined
      ? { pf: Object.fromEntries(Object.entries(after.pf).map(([k, v]) => [k, v - (before.pf![k] ?? 0)])) } : {}),
    ...(after.driver !== undefined && before.driver !== undefined
      ? { driver: Object.fromEntries(Object.entries(after.driver).map(([k, v]) => [k, round(v - (before.driver![k] ?? 0))])) } : {}),
    ...(after.ip !== undefined && before.ip !== undefined
      ? { ip: Object.fromEntries(Object.entries(after.ip).map(([k, v]) => [k, v - (before.ip![k] ?? 0)]).filter(([, v]) => v !== 0)) } : {}),
    ...(after.busyMs !== undefined && before.busyMs !== undefined
      ? { busyPct: Object.fromEntries(Object.entries(after.busyMs).map(([k, v]) => [k, Math.round((v - (before.busyMs![k] ?? 0)) / (10 * s))])) } : {}),
  };
}

/** Kernel-side drops of a device in a namespace (TX dropped: frames the TAP queue or veth could not take). */
function devDrops(ns: string, dev: string, dir: 'rx' | 'tx'): number {
  const j = JSON.parse(sh('ip', '-n', ns, '-s', '-j', 'link', 'show', dev)) as { stats64: Record<string, { dropped: number }> }[];
  return j[0]!.stats64[dir]!.dropped;
}

function nstat(ns: string, name: string): number {
  const out = sh('ip', 'netns', 'exec', ns, 'nstat', '-az', name);
  const m = new RegExp(`${name}\\s+(\\d+)`).exec(out);
  return m === null ? 0 : Number(m[1]);
}

function memory(): { rssMB: number; heapUsedMB: number; externalMB: number; arrayBuffersMB: number } {
  const m = process.memoryUsage();
  const mb = (x: number): number => Math.round(x / 1048576);
  return { rssMB: mb(m.rss), heapUsedMB: mb(m.heapUsed), externalMB: mb(m.external), arrayBuffersMB: mb(m.arrayBuffers) };
}

async function runNewtos(bin: string, tag: string): Promise<{ run: HostRun; soak?: unknown }> {
  const ns = `nfl${tag}n`;
  const dev = `nfl${tag}t`;
  let stack: Stack | undefined;
  try {
    sh('ip', 'netns', 'add', ns);
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
    stack = await createStack({
      name: 'bench-flood', placement: PLACEMENT, ...(FILTER !== undefined ? { filter: FILTER } : {}),
      interfaces: [{ name: 'eth0', link: { type: 'tap', device: dev }, mac: NEWTOS_MAC, addresses: ['10.97.0.2/16'] }],
    });
    const server = http.createServer((_req, res) => res.end(PAGE));
    stack.http.serve(server, 80);
    sh('ip', 'link', 'set', dev, 'netns', ns);
    if (TXQLEN !== undefined) sh('ip', '-n', ns, 'link', 'set', dev, 'txqueuelen', TXQLEN);
    sh('ip', '-n', ns, 'addr', 'add', '10.97.0.1/16', 'dev', dev);
    sh('ip', '-n', ns, 'link', 'set', dev, 'up');
    await sleep(300);
    const memStart = memory();
    log(`newtos memory before any flood: rss ${memStart.rssMB} MB heap ${memStart.heapUsedMB} MB external ${memStart.externalMB} MB`);
    const st = stack;
    const counter = (): { processed: number; dropped: number; tcp: Record<string, number>; busyMs: Record<string, number>; ip: Record<string, number>; driver: Record<string, number>; pf?: Record<string, number> } => {
      const all = st.counters();
      const tcp = all.tcp as Record<string, unknown>;
      const pick = ['synCookiesSent', 'synCookiesAccepted', 'passiveOpens', 'allocFailures', 'dropSynNoBuffers', 'dropCookieAcceptQueueFull', 'segmentsOut'];
      return {
        processed: Number(tcp['segmentsIn'] ?? 0), dropped: devDrops(ns, dev, 'tx'),
        tcp: Object.fromEntries(pick.map((k) => [k, Number(tcp[k] ?? 0)])),
        busyMs: Object.fromEntries(st.snapshot().servers.map((sv) => [sv.name, sv.busyMs])),
        ip: ipFigures(all.ip),
        driver: (({ rxNoBufferEpisodes, rxNoBufferMs }) => ({ rxNoBufferEpisodes, rxNoBufferMs }))(st.driverStats()),
        ...(FILTER !== undefined ? { pf: (({ statesCreated, statesEvicted, stateTableFull, dropped }) => ({ statesCreated, statesEvicted, stateTableFull, dropped }))(st.pfStats()) } : {}),
      };
    };
    const side = { ns, dev, mac: NEWTOS_MAC, dst: '10.97.0.2' };
    const phases: Phase[] = [];
    for (const p of ['idle', 'fixed', 'max'] as const) {
      phases.push(await phase(p, bin, side, counter));
      const last = phases[phases.length - 1]!;
      log(`newtos ${line(last)}`);
      if (last.busyPct !== undefined) log(`       busy % of a core: ${Object.entries(last.busyPct).map(([k, v]) => `${k} ${v}`).join('  ')}`);
      if (last.ip !== undefined) log(`       ip: ${Object.entries(last.ip).map(([k, v]) => `${k} ${v}`).join('  ')}`);
      if (last.tcp !== undefined) log(`       tcp: ${Object.entries(last.tcp).map(([k, v]) => `${k} ${v}`).join('  ')}`);
      if (last.pf !== undefined) log(`       pf: ${Object.entries(last.pf).map(([k, v]) => `${k} ${v}`).join('  ')}  states now ${stack.pfStats().states}`);
      if (last.driver !== undefined) log(`       driver: ${Object.entries(last.driver).map(([k, v]) => `${k} ${v}`).join('  ')}`);
      await sleep(500);
    }
    let soak: unknown;
    if (SOAK_S > 0) soak = { beforeAnyFlood: memStart, ...await soakRun(bin, side) };
    return { run: { phases }, ...(soak !== undefined ? { soak } : {}) };
  } finally {
    await stack?.close();
    try { sh('ip', 'netns', 'del', ns); } catch { /* gone */ }
  }
}

/** IP's packets in, delivered and out, and its drops by reason ('drops.x', 'txDrops.x', 'frameDrops.x'). */
function ipFigures(ip: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of ['rxPackets', 'delivered', 'txPackets', 'verdictRequests']) out[k] = Number(ip[k] ?? 0);
  for (const group of ['drops', 'txDrops', 'frameDrops']) {
    const g = ip[group];
    if (typeof g !== 'object' || g === null) continue;
    for (const [k, v] of Object.entries(g)) if (typeof v === 'number') out[`${group}.${k}`] = v;
  }
  return out;
}

/** RSS etc. every 2 s during a flood at the highest rate and for 20 s after it. */
async function soakRun(bin: string, side: { ns: string; dev: string; mac: string; dst: string }): Promise<Record<string, unknown>> {
  const samples: { t: number; flooding: boolean; rssMB: number; heapUsedMB: number; externalMB: number; arrayBuffersMB: number }[] = [];
  const t0 = performance.now();
  let flooding = true;
  const sample = (): void => {
    const m = { t: Math.round((performance.now() - t0) / 1000), flooding, ...memory() };
    samples.push(m);
    log(`soak t=${m.t}s ${flooding ? 'flood' : 'after'} rss ${m.rssMB} MB heap ${m.heapUsedMB} MB external ${m.externalMB} MB arrayBuffers ${m.arrayBuffersMB} MB`);
  };
  sample();
  const timer = setInterval(sample, 2000);
  try {
    // The generator runs at most 120 s at a time.
    for (let left = SOAK_S; left > 0; left -= 120) await generate(bin, side.ns, side.dev, side.mac, side.dst, 0, Math.min(120, left));
    flooding = false;
    const after = summarise(await clientLoop(side.ns, `http://${side.dst}/`, 2));
    await sleep(18_000);
    return { seconds: SOAK_S, samples, fetchesAfter: after };
  } finally {
    clearInterval(timer);
  }
}

/** The Linux server: Node's http in namespace ns on port 80 (backlog 511); resolves once it listens. */
async function linuxServer(ns: string): Promise<ChildProcess> {
  const script = `require('http').createServer((q, s) => s.end(${JSON.stringify(PAGE)})).listen(80, '10.96.0.2', () => console.log('ready'))`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the Linux http server did not start')), 20_000);
    child.stdout!.once('data', () => { clearTimeout(timer); resolve(); });
    child.once('exit', () => { clearTimeout(timer); reject(new Error('the Linux http server exited')); });
  });
  return child;
}

async function runLinux(bin: string, tag: string): Promise<HostRun> {
  const gns = `nfl${tag}g`;
  const lns = `nfl${tag}l`;
  const a = `nfl${tag}a`;
  const b = `nfl${tag}b`;
  let server: ChildProcess | undefined;
  try {
    for (const ns of [gns, lns]) { sh('ip', 'netns', 'add', ns); sh('ip', '-n', ns, 'link', 'set', 'lo', 'up'); }
    sh('ip', 'link', 'add', a, 'netns', gns, 'type', 'veth', 'peer', 'name', b, 'netns', lns);
    sh('ip', '-n', gns, 'addr', 'add', '10.96.0.1/16', 'dev', a);
    sh('ip', '-n', lns, 'addr', 'add', '10.96.0.2/16', 'dev', b);
    sh('ip', '-n', gns, 'link', 'set', a, 'up');
    sh('ip', '-n', lns, 'link', 'set', b, 'up');
    // Linux's defaults, said out loud: SYN cookies when the SYN queue overflows.
    sh('ip', 'netns', 'exec', lns, 'sysctl', '-q', '-w', 'net.ipv4.tcp_syncookies=1');
    let filter: string | undefined;
    if (FILTER !== undefined) {
      try {
        execFileSync('ip', ['netns', 'exec', lns, 'nft', '-f', '-'], { input: NFT_FILTER, stdio: ['pipe', 'ignore', 'pipe'] });
        filter = 'nftables: conntrack, new SYNs to port 80 accepted, default drop both ways';
      } catch (e) {
        filter = `none (nft: ${(e as Error).message.split('\n')[0]!})`;
      }
      log(`linux  filter: ${filter}`);
    }
    server = await linuxServer(lns);
    const mac = (JSON.parse(sh('ip', '-n', lns, '-j', 'link', 'show', b)) as { address: string }[])[0]!.address;
    const counter = (): { processed: number; dropped: number } =>
      ({ processed: nstat(lns, 'TcpInSegs'), dropped: devDrops(lns, b, 'rx') + devDrops(gns, a, 'tx') });
    const side = { ns: gns, dev: a, mac, dst: '10.96.0.2' };
    const phases: Phase[] = [];
    for (const p of ['idle', 'fixed', 'max'] as const) {
      phases.push(await phase(p, bin, side, counter));
      log(`linux  ${line(phases[phases.length - 1]!)}`);
      if (filter !== undefined) {
        try { log(`       conntrack entries now ${sh('ip', 'netns', 'exec', lns, 'cat', '/proc/sys/net/netfilter/nf_conntrack_count').trim()}`); } catch { /* no conntrack figures */ }
      }
      await sleep(500);
    }
    return { phases, ...(filter !== undefined ? { filter } : {}) };
  } finally {
    server?.kill('SIGKILL');
    for (const ns of [gns, lns]) { try { sh('ip', 'netns', 'del', ns); } catch { /* gone */ } }
  }
}

function line(p: Phase): string {
  const f = p.fetches;
  return `${p.phase.padEnd(5)} offered ${String(p.synsOfferedPerS).padStart(7)}/s processed ${String(p.synsProcessedPerS).padStart(7)}/s `
    + `link drops ${String(p.linkDropped).padStart(8)}  fetches ${f.ok}/${f.count} ok (${f.successPct ?? '-'} %) p50 ${f.p50Ms ?? '-'} ms p99 ${f.p99Ms ?? '-'} ms`;
}

async function main(): Promise<void> {
  const why = unavailable();
  const started = new Date().toISOString();
  if (why !== '') {
    const result = { newtos: null, linux: null, note: why };
    if (json) console.log(JSON.stringify(result)); else console.log(`bench:flood: ${why}; nothing measured`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'newtos-flood-'));
  try {
    const bin = join(dir, 'flood-syn');
    execFileSync('cc', ['-O2', '-o', bin, SRC_C], { stdio: ['ignore', 'ignore', 'pipe'] });
    const tag = randomBytes(2).toString('hex');
    const load = (): string => sh('cat', '/proc/loadavg').split(' ').slice(0, 3).join(' ');
    const loadBefore = load();
    log(`bench:flood: ${PHASE_S} s per phase, fixed rate ${RATE}/s; load average ${loadBefore} on ${sh('nproc').trim()} cores`);
    let newtos: { run: HostRun; soak?: unknown } | null = null;
    let linux: HostRun | null = null;
    try {
      if (only !== 'linux') newtos = await runNewtos(bin, tag);
    } catch (e) { newtos = { run: { phases: [], note: (e as Error).message.split('\n')[0]! } }; }
    try {
      if (only !== 'newtos') linux = await runLinux(bin, tag);
    } catch (e) { linux = { phases: [], note: (e as Error).message.split('\n')[0]! }; }
    const result = {
      started, smoke, phaseSeconds: PHASE_S, fixedRate: RATE, cores: Number(sh('nproc').trim()), loadBefore, loadAfter: load(),
      newtos: newtos?.run ?? null, linux, ...(newtos?.soak !== undefined ? { soak: newtos.soak } : {}), memoryAfter: memory(),
    };
    if (json) console.log(JSON.stringify(result));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
