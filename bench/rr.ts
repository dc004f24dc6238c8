/**
 * npm run bench:rr [-- --json] [-- --seconds N] [-- --smoke] — request/response:
 *   - two newtos hosts on the in-process virtual switch; host b's clients send a
 *     message of 1 byte or 1 KiB, host a's echo server sends it back, and the
 *     client sends the next one when the whole echo arrived; over 1 and over 64
 *     connections at once; for isolated, grouped, monolithic and postMessage placements:
 *     round trips per second (all connections) and p50/p99 round-trip latency;
 *   - the same with Linux's own stack: a Node `net` echo server and client, each
 *     in its own network namespace, over a veth pair (root);
 *   - the share of socket operations done without a message under the 64-connection
 *     load (isolated, 1-byte messages);
 *   - wrk from the kernel side of a TAP device against `newtos up --http` serving a
 *     6-byte file, one connection (root, wrk): p50/p99 and requests/s, with up's default
 *     placement (auto: what it chose is printed) and with isolated and monolithic beside it;
 *     and the reference: the same wrk against a minimal Node http server answering the same
 *     6 bytes on Linux's own stack, from another namespace over a veth;
 *   - ping from the kernel side of the TAP against the idle `newtos up` host (default placement),
 *     one every 50 ms and one every 2 ms: p50 round trip; beside it, the same pings against
 *     the floor of any user-space responder behind a TAP here (bench/tap-echo-responder.ts: one
 *     Node thread blocked in poll(2) that answers ARP and echo requests, nothing else) and
 *     against Linux's own stack over a veth (the kernel answers; no user space at all).
 * A figure that could not be measured is null, with a note.
 * --smoke (test/bench): a fraction of a second per figure, only to check it runs.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createVswitch } from '../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../src/stack/host.js';
import { withoutMessagePct, type SocketOpStats } from '../src/abi/socket-block.js';
import { LineReader } from './stack-tap.js';
import { tapUp, vethPair, type TapUp, type VethPair } from './netns.js';

const json = process.argv.includes('--json');
const smoke = process.argv.includes('--smoke');
const secArg = process.argv.indexOf('--seconds');
const SECONDS = smoke ? 0.3 : secArg >= 0 ? Number(process.argv[secArg + 1]) : 3;
/** Untimed round trips first, so each thread's JIT has compiled the path. */
const WARMUP_SECONDS = smoke ? 0.1 : 1;
const SIZES = [1, 1024] as const;
const CONNS = [1, 64] as const;
const log = (s: string): void => { if (!json) console.log(s); };

interface RrFigure { rtPerS: number | null; p50Us: number | null; p99Us: number | null; note?: string }

/**
 * The client loop, shared by the newtos run (in this process) and the Linux run (the
 * same text in a child): `open(i)` gives connection i; every connection sends `size`
 * bytes, waits for all of them back, and again, for `seconds` after a warm-up.
 */
const CLIENT_LOOP = `
async function rrLoop(open, conns, size, warmupS, seconds) {
  const msg = Buffer.alloc(size, 0x61);
  const sockets = await Promise.all(Array.from({ length: conns }, (_, i) => open(i)));
  let measuring = false;
  let stop = false;
  const lat = [];
  let count = 0;
  await Promise.all(sockets.map((s) => new Promise((resolve, reject) => {
    let got = 0;
    let t0 = 0;
    const next = () => { if (stop) { resolve(); return; } got = 0; t0 = performance.now(); s.write(msg); };
    s.on('data', (d) => {
      got += d.length;
      if (got < size) return;
      if (measuring) { lat.push(performance.now() - t0); count++; }
      next();
    });
    s.on('error', reject);
    next();
  }), setTimeout(() => { measuring = true; setTimeout(() => { stop = true; }, seconds * 1000); }, warmupS * 1000)));
  for (const s of sockets) s.destroy();
  lat.sort((x, y) => x - y);
  const at = (p) => lat.length === 0 ? 0 : lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  return { count, p50Ms: at(0.5), p99Ms: at(0.99) };
}
`;

type RrLoop = (open: (i: number) => Promise<NodeJSSocketLike>, conns: number, size: number, warmupS: number, seconds: number) => Promise<RrResult>;
interface RrResult { count: number; p50Ms: number; p99Ms: number }
interface NodeJSSocketLike { write(b: Buffer): void; on(ev: string, fn: (x: Buffer & Error) => void): void; destroy(): void }
// The same loop text runs in the Linux child: one client code path for both stacks.
const rrLoop = new Function(`${CLIENT_LOOP}; return rrLoop;`)() as RrLoop;

function figure(r: RrResult, seconds: number): RrFigure {
  if (r.count === 0) return { rtPerS: null, p50Us: null, p99Us: null, note: 'no round trip completed' };
  return { rtPerS: Math.round(r.count / seconds), p50Us: Math.round(r.p50Ms * 1000), p99Us: Math.round(r.p99Ms * 1000) };
}

function sum(x: SocketOpStats, y: SocketOpStats, sign = 1): SocketOpStats {
  const o = { ...x };
  for (const k of Object.keys(o) as (keyof SocketOpStats)[]) o[k] = x[k] + sign * y[k];
  return o;
}

type Placement = 'isolated' | 'grouped' | 'monolithic' | 'postmessage';

async function newtosFigures(placement: Placement): Promise<{ figs: Record<string, RrFigure>; withoutMsgPct: number | null }> {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const host = (name: string, ip: string): Promise<Stack> => createStack({
    name, placement, interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
  }, { switches: { sw0: sw } });
  const a = await host('a', '10.0.0.1/24');
  const b = await host('b', '10.0.0.2/24');
  const figs: Record<string, RrFigure> = {};
  let withoutMsgPct: number | null = null;
  try {
    const server = a.net.createServer((s) => { s.setNoDelay(true); s.on('data', (d: Buffer) => s.write(d)); s.on('error', () => undefined); });
    await new Promise<void>((resolve) => server.listen(7, resolve));
    for (const conns of CONNS) {
      for (const size of SIZES) {
        const before = sum(a.socketStats(), b.socketStats());
        const r = await rrLoop((_i) => new Promise((resolve, reject) => {
          const c = b.net.connect({ port: 7, host: '10.0.0.1' }, () => resolve(c as unknown as NodeJSSocketLike));
          c.setNoDelay(true);
          c.once('error', reject);
        }), conns, size, WARMUP_SECONDS, SECONDS);
        figs[`${conns}x${size}`] = figure(r, SECONDS);
        if (conns === 64 && size === 1) withoutMsgPct = withoutMessagePct(sum(sum(a.socketStats(), b.socketStats()), before, -1));
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    server.close();
  } finally {
    await b.close();
    await a.close();
  }
  return { figs, withoutMsgPct };
}

const SERVER_JS = `
const net = require('node:net');
net.createServer((s) => { s.setNoDelay(true); s.on('data', (d) => s.write(d)); s.on('error', () => {}); })
  .listen(7, process.argv[1], () => console.log('ready'));
`;
const CLIENT_JS = `${CLIENT_LOOP}
const net = require('node:net');
const [host, conns, size, warm, secs] = process.argv.slice(1);
rrLoop(() => new Promise((resolve, reject) => { const c = net.connect({ port: 7, host, noDelay: true }, () => resolve(c)); c.once('error', reject); }),
  Number(conns), Number(size), Number(warm), Number(secs)).then((r) => { console.log(JSON.stringify(r)); process.exit(0); });
`;

async function linuxFigures(): Promise<{ figs: Record<string, RrFigure>; note?: string }> {
  if (process.getuid?.() !== 0) return { figs: {}, note: 'needs root (network namespaces)' };
  let pair: VethPair | undefined;
  let server: ChildProcess | undefined;
  const figs: Record<string, RrFigure> = {};
  try {
    pair = vethPair('nrr', '10.97.0');
    server = spawn('ip', ['netns', 'exec', pair.n1, process.execPath, '-e', SERVER_JS, '10.97.0.1'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const ready = await new LineReader(server).next(20_000);
    if (ready !== 'ready') throw new Error(`echo server said '${ready}'`);
    for (const conns of CONNS) {
      for (const size of SIZES) {
        const out = execFileSync('ip', ['netns', 'exec', pair.n2, process.execPath, '-e', CLIENT_JS, '10.97.0.1', String(conns), String(size), String(WARMUP_SECONDS), String(SECONDS)],
          { encoding: 'utf8', timeout: (SECONDS + WARMUP_SECONDS) * 1000 + 60_000, maxBuffer: 256 << 20 });
        figs[`${conns}x${size}`] = figure(JSON.parse(out.trim().split('\n').pop()!) as RrResult, SECONDS);
      }
    }
    return { figs };
  } catch (e) {
    return { figs, note: (e as Error).message.split('\n')[0] };
  } finally {
    server?.kill('SIGKILL');
    pair?.close();
  }
}

const HTTP_SERVER_JS = `
require('node:http').createServer((req, res) => { res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 6 }); res.end('hello\\n'); })
  .listen(80, process.argv[1], () => console.log('ready'));
`;

interface WrkFigure { p50Us: number | null; p99Us: number | null; reqPerS: number | null; note?: string }

/** wrk's "50%   1.32ms" lines, in microseconds. */
function wrkPercentile(text: string, p: string): number | null {
  const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(text);
  if (m === null) return null;
  const v = Number(m[1]);
  return Math.round(m[2] === 'us' ? v : m[2] === 'ms' ? v * 1000 : v * 1e6);
}

/** Why a figure that needs root (namespaces, a TAP device) and `tool` cannot run here, or null. */
function rootToolMissing(tool: string, pkg: string): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, a TAP device)';
  try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); } catch { return `needs ${tool} (apt-get install ${pkg})`; }
  return null;
}
const wrkMissing = (): string | null => rootToolMissing('wrk', 'wrk');
const pingMissing = (): string | null => rootToolMissing('ping', 'iputils-ping');

/** wrk -c1 from namespace `ns` against `url`, one warm-up second first. */
function wrk1(ns: string, url: string): WrkFigure {
  const run = (secs: number): string => execFileSync('ip', ['netns', 'exec', ns, 'wrk', '-t1', '-c1', `-d${secs}s`, '--latency', url],
    { encoding: 'utf8', timeout: secs * 1000 + 30_000 });
  run(1); // warm-up
  const out = run(Math.max(1, Math.round(SECONDS)));
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  return { p50Us: wrkPercentile(out, '50'), p99Us: wrkPercentile(out, '99'), reqPerS: rps === null ? null : Math.round(Number(rps[1])) };
}

/** ping p50 (µs) from namespace `ns` to `addr`, one echo request every `intervalS` seconds (a few first, not counted). */
function pingP50(ns: string, addr: string, intervalS: number): number | null {
  const count = smoke ? 3 : intervalS >= 0.01 ? 60 : 300;
  // ping exits 1 when a reply was missing: the replies it did get still count.
  const run = (n: number): string => {
    try {
      return execFileSync('ip', ['netns', 'exec', ns, 'ping', '-n', '-c', String(n), '-i', String(intervalS), '-W', '1', addr],
        { encoding: 'utf8', timeout: n * intervalS * 1000 + 30_000 });
    } catch (e) {
      const out = (e as { stdout?: unknown }).stdout;
      if (typeof out === 'string' && out.includes('time=')) return out;
      throw e;
    }
  };
  run(3);
  const times = [...run(count).matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000).sort((a, b) => a - b);
  return times.length === 0 ? null : Math.round(times[Math.floor(times.length / 2)]!);
}

interface IdlePing { idle50P50Us: number | null; idle2P50Us: number | null; note?: string }
const noPing = (note: string): IdlePing => ({ idle50P50Us: null, idle2P50Us: null, note });
function pingBoth(ns: string, addr: string): IdlePing {
  try {
    return { idle50P50Us: pingP50(ns, addr, 0.05), idle2P50Us: pingP50(ns, addr, 0.002) };
  } catch (e) {
    return noPing((e as Error).message.split('\n')[0] ?? 'failed');
  }
}

/** Idle pings against the floor: a one-thread user-space responder behind a TAP (tap-echo-responder.ts). */
async function responderPing(): Promise<IdlePing> {
  const why = pingMissing();
  if (why !== null) return noPing(why);
  const tag = randomBytes(3).toString('hex');
  const ns = `nre${tag}`; const dev = `nre${tag}`;
  let child: ChildProcess | undefined;
  try {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['-n', ns, 'tuntap', 'add', 'dev', dev, 'mode', 'tap']);
    execFileSync('ip', ['-n', ns, 'addr', 'add', '10.95.0.1/24', 'dev', dev]);
    execFileSync('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    const script = fileURLToPath(new URL('./tap-echo-responder.js', import.meta.url));
    child = spawn('ip', ['netns', 'exec', ns, process.execPath, script, dev, '10.95.0.2'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const ready = await new LineReader(child).next(20_000);
    if (ready !== 'ready') throw new Error(`the responder said '${ready}'`);
    return pingBoth(ns, '10.95.0.2');
  } catch (e) {
    return noPing((e as Error).message.split('\n')[0] ?? 'failed');
  } finally {
    child?.kill('SIGKILL');
    try { execFileSync('ip', ['netns', 'del', ns]); } catch { /* gone */ }
  }
}

/** Idle pings against Linux's own stack over a veth. */
function linuxPing(): IdlePing {
  const why = pingMissing();
  if (why !== null) return noPing(why);
  let pair: VethPair | undefined;
  try {
    pair = vethPair('nrp', '10.94.0');
    return pingBoth(pair.n2, '10.94.0.1');
  } catch (e) {
    return noPing((e as Error).message.split('\n')[0] ?? 'failed');
  } finally {
    pair?.close();
  }
}

const noWrk = (note: string): WrkFigure & { placement: null } => ({ p50Us: null, p99Us: null, reqPerS: null, placement: null, note });

/** The reference of the TAP figure: wrk over one connection against a minimal Node http server on Linux's stack, over a veth. */
async function linuxHttpFigures(): Promise<WrkFigure> {
  const why = wrkMissing();
  if (why !== null) return noWrk(why);
  let pair: VethPair | undefined;
  let server: ChildProcess | undefined;
  try {
    pair = vethPair('nrh', '10.98.0');
    server = spawn('ip', ['netns', 'exec', pair.n1, process.execPath, '-e', HTTP_SERVER_JS, '10.98.0.1'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const ready = await new LineReader(server).next(20_000);
    if (ready !== 'ready') throw new Error(`http server said '${ready}'`);
    return wrk1(pair.n2, 'http://10.98.0.1/f.txt');
  } catch (e) {
    return noWrk((e as Error).message.split('\n')[0] ?? 'failed');
  } finally {
    server?.kill('SIGKILL');
    pair?.close();
  }
}

/** wrk over one connection from Linux over TAP against `newtos up --http` with `--placement` (none: up's default), and the placement up ran. */
async function tapHttpFigures(placement?: string, ping = false): Promise<WrkFigure & { placement: string | null; ping?: IdlePing }> {
  const why = wrkMissing();
  if (why !== null) return { ...noWrk(why), ...(ping ? { ping: noPing(why) } : {}) };
  const dir = mkdtempSync(join(tmpdir(), 'newtos-rr-'));
  writeFileSync(join(dir, 'f.txt'), 'hello\n');
  let up: TapUp | undefined;
  try {
    up = await tapUp('nrt', '10.96.0', ['--http', dir, ...(placement !== undefined ? ['--placement', placement] : [])]);
    const auto = up.lines.map((l) => /placement auto → (\w+)/.exec(l)).find((m) => m !== null);
    const figure = wrk1(up.ns, 'http://10.96.0.2/f.txt');
    // Then quiet, pings only: what an idle host's answer costs.
    const noPingTool = ping ? pingMissing() : null;
    const pings = ping ? { ping: noPingTool === null ? pingBoth(up.ns, '10.96.0.2') : noPing(noPingTool) } : {};
    return { ...figure, ...pings, placement: auto !== undefined && auto !== null ? `auto → ${auto[1]}` : placement ?? null };
  } catch (e) {
    return noWrk((e as Error).message.split('\n')[0] ?? 'failed');
  } finally {
    await up?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (f: RrFigure | undefined): string => f === undefined || f.rtPerS === null ? `n/a${f?.note !== undefined ? ` (${f.note})` : ''}`
  : `${f.rtPerS} round trips/s, p50 ${f.p50Us} us, p99 ${f.p99Us} us`;

log(`bench:rr — request/response, ${SECONDS} s per figure after ${WARMUP_SECONDS} s warm-up, 2 cores (every host's servers and the apps share them)`);
const placements: Record<Placement, Awaited<ReturnType<typeof newtosFigures>>> = {} as Record<Placement, Awaited<ReturnType<typeof newtosFigures>>>;
for (const p of ['isolated', 'grouped', 'monolithic', 'postmessage'] as const) {
  placements[p] = await newtosFigures(p);
  for (const [k, f] of Object.entries(placements[p].figs)) log(`newtos ${p.padEnd(11)} ${k.padEnd(7)} (connections x bytes): ${fmt(f)}`);
}
const linux = await linuxFigures();
for (const [k, f] of Object.entries(linux.figs)) log(`Linux veth (Node net) ${k.padEnd(7)}: ${fmt(f)}`);
if (linux.note !== undefined) log(`Linux veth: ${linux.note}`);
// What `newtos up` gives by default (placement auto), and the isolated placement beside it.
const tap = await tapHttpFigures(undefined, true);
const tapIsolated = await tapHttpFigures('isolated');
const tapMonolithic = await tapHttpFigures('monolithic');
for (const t of [tap, tapIsolated, tapMonolithic]) {
  log(`wrk -c1 from Linux over TAP against newtos up --http (placement ${t.placement ?? '?'}): ${t.p50Us === null ? `n/a (${t.note ?? ''})` : `p50 ${t.p50Us} us, p99 ${t.p99Us} us, ${t.reqPerS} requests/s`}`);
}
const linuxHttp = await linuxHttpFigures();
log(`wrk -c1 against a minimal Node http server on Linux's stack over a veth (the reference): ${linuxHttp.p50Us === null ? `n/a (${linuxHttp.note ?? ''})` : `p50 ${linuxHttp.p50Us} us, p99 ${linuxHttp.p99Us} us, ${linuxHttp.reqPerS} requests/s`}`);
const tapPing = tap.ping ?? noPing('not measured');
const responder = await responderPing();
const kernelPing = linuxPing();
const pingLine = (p: IdlePing): string => p.idle50P50Us === null ? `n/a (${p.note ?? ''})` : `p50 ${p.idle50P50Us} us every 50 ms, ${p.idle2P50Us ?? 'n/a'} us every 2 ms`;
log(`ping from Linux over TAP, idle newtos up (placement ${tap.placement ?? '?'}): ${pingLine(tapPing)}`);
log(`ping from Linux over TAP, a one-thread user-space responder (the floor behind a TAP here): ${pingLine(responder)}`);
log(`ping over a veth, Linux's own stack answering: ${pingLine(kernelPing)}`);
const ratio = (x: number | null | undefined, y: number | null | undefined): number | null =>
  x === null || x === undefined || y === null || y === undefined || y === 0 ? null : Number((x / y).toFixed(3));
const iso64 = placements.isolated.figs['64x1']?.rtPerS;
const out = {
  cores: 2, smoke, seconds: SECONDS,
  tap_http_1conn_p50_us: tap.p50Us, tap_http_1conn_p99_us: tap.p99Us, tap_http_1conn_req_per_s: tap.reqPerS, tap_http_placement: tap.placement,
  tap_http_1conn_isolated_p50_us: tapIsolated.p50Us, tap_http_1conn_isolated_p99_us: tapIsolated.p99Us, tap_http_1conn_isolated_req_per_s: tapIsolated.reqPerS,
  tap_http_1conn_monolithic_p50_us: tapMonolithic.p50Us, tap_http_1conn_monolithic_p99_us: tapMonolithic.p99Us, tap_http_1conn_monolithic_req_per_s: tapMonolithic.reqPerS,
  linux_http_1conn_p50_us: linuxHttp.p50Us, linux_http_1conn_p99_us: linuxHttp.p99Us, linux_http_1conn_req_per_s: linuxHttp.reqPerS,
  tap_ping_idle50_p50_us: tapPing.idle50P50Us, tap_ping_idle2_p50_us: tapPing.idle2P50Us,
  tap_responder_ping_idle50_p50_us: responder.idle50P50Us, tap_responder_ping_idle2_p50_us: responder.idle2P50Us,
  linux_veth_ping_idle50_p50_us: kernelPing.idle50P50Us, linux_veth_ping_idle2_p50_us: kernelPing.idle2P50Us,
  rr64_ratio_isolated_vs_postmessage: ratio(iso64, placements.postmessage.figs['64x1']?.rtPerS),
  rr64_ratio_isolated_vs_linux: ratio(iso64, linux.figs['64x1']?.rtPerS),
  rr1_p50_us_isolated: placements.isolated.figs['1x1']?.p50Us ?? null,
  rr1_p50_us_grouped: placements.grouped.figs['1x1']?.p50Us ?? null,
  rr64_ratio_grouped_vs_linux: ratio(placements.grouped.figs['64x1']?.rtPerS, linux.figs['64x1']?.rtPerS),
  rr64_socket_ops_without_message_pct: placements.isolated.withoutMsgPct === null ? null : Number(placements.isolated.withoutMsgPct.toFixed(2)),
  figures: {
    ...Object.fromEntries((Object.keys(placements) as Placement[]).map((p) => [p, placements[p].figs])),
    linux_veth: linux.figs,
  },
  notes: {
    ...(linux.note !== undefined ? { linux_veth: linux.note } : {}), ...(tap.note !== undefined ? { tap_http: tap.note } : {}), ...(linuxHttp.note !== undefined ? { linux_http: linuxHttp.note } : {}),
    ...(tapPing.note !== undefined ? { tap_ping: tapPing.note } : {}), ...(responder.note !== undefined ? { tap_responder_ping: responder.note } : {}), ...(kernelPing.note !== undefined ? { linux_veth_ping: kernelPing.note } : {}),
  },
};
log(`64 connections, 1 byte: isolated/postMessage ${out.rr64_ratio_isolated_vs_postmessage ?? 'n/a'}, isolated/Linux ${out.rr64_ratio_isolated_vs_linux ?? 'n/a'}; socket operations without a message ${out.rr64_socket_ops_without_message_pct ?? 'n/a'} %`);
if (json) console.log(JSON.stringify(out));
