/**
 * npm run bench:stack — single-stream TCP throughput of the assembled stack,
 * in one run on this machine:
 *   - two newtos hosts on the in-process virtual switch, at MTU 1500 and 64 KiB,
 *     for isolated placement (a worker per server), monolithic placement (all
 *     of a host's servers in one worker) and the postMessage transport;
 *   - Linux to Linux over a veth pair between two network namespaces (root only; python3 both ends);
 *   - the share of socket operations done without a message during the bulk transfers.
 * `--json` prints one JSON object; a figure that could not be measured is null.
 * - Linux ⇄ newtos over a TAP device, each way (root; bench/stack-tap.ts).
 * `--cc=cubic` (or newreno, bbr) sets every newtos host's congestion control (default: the stack's).
 */
import { execFileSync } from 'node:child_process';
import { createVswitch } from '../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../src/stack/host.js';
import { withoutMessagePct, type SocketOpStats } from '../src/abi/socket-block.js';
import { CONGESTION_CONTROL_NAMES, type CongestionControlName } from '../src/tcp/congestion/index.js';
import { LineReader, RECEIVER_PY, SENDER_PY, startAgent, tapFigures } from './stack-tap.js';

const json = process.argv.includes('--json');
/** --cc=cubic|newreno|bbr: every newtos host's congestion control (default: the stack's, BBR). */
const ccArg = process.argv.find((a) => a.startsWith('--cc='))?.slice(5);
if (ccArg !== undefined && !(CONGESTION_CONTROL_NAMES as readonly string[]).includes(ccArg)) {
  console.error(`bench:stack: --cc takes ${CONGESTION_CONTROL_NAMES.join(', ')}, not '${ccArg}'`);
  process.exit(2);
}
const CC = ccArg as CongestionControlName | undefined;
/** --smoke (test/bench): 1 MiB transfers, one warm-up and one timed each, only to check that it runs. */
const smoke = process.argv.includes('--smoke');
const bytesArg = process.argv.find((a) => a.startsWith('--bytes='));
const TOTAL = smoke ? 1024 * 1024 : bytesArg !== undefined ? Number(bytesArg.slice(8)) : 128 * 1024 * 1024;
/**
 * Warm-up: transfers of WARMUP_ROUND bytes on fresh connections until two in a row agree
 * within 15 % (at least MIN_WARMUP rounds, at most MAX_WARMUP). Each of a dozen isolates
 * JIT-compiles its own hot paths; measured here, a host pair needs some 300-600 MiB before
 * its throughput stops climbing (cold it runs at a fifth of its steady state), and on this
 * shared 2-core VM two rounds in a row can agree by chance early on: hence the minimum.
 */
const warmArg = process.argv.find((a) => a.startsWith('--warmup='));
const WARMUP_ROUND = smoke ? TOTAL : warmArg !== undefined ? Number(warmArg.slice(9)) : 64 * 1024 * 1024;
const MIN_WARMUP = smoke ? 1 : 8;
const MAX_WARMUP = smoke ? 1 : 16;
/** Timed transfers per figure (fresh connection each); the figure is their median. */
const TIMED = smoke ? 1 : 5;
/**
 * newtos socket buffers (send and receive ring) for the bulk streams: 4 MiB, the order of what
 * Linux's autotuning reaches (tcp_rmem max 6 MiB) in the veth run it is compared with.
 */
const SOCKET_BUFFER = 4 * 1024 * 1024;
const log = (s: string): void => { if (!json) console.log(s); };

interface Run { gbps: number | null; stats: SocketOpStats | null; note?: string; warmup?: number[]; runs?: number[]; cpuMsPerMiB?: number }

const median = (xs: readonly number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const gbpsOf = (bytes: number, ms: number): number => (bytes * 8) / (ms / 1000) / 1e9;

/** One bulk transfer from b to a's server on `port`: bytes received and the ms between connect and the receiver's end. */
async function bulk(a: Stack, b: Stack, total: number, port: number): Promise<{ got: number; ms: number } | 'timeout'> {
  let got = 0;
  let t0 = 0;
  let t1 = 0;
  const server = a.net.createServer((s) => {
    s.on('data', (c: Buffer) => { got += c.length; });
    s.on('end', () => { t1 = performance.now(); done(); });
  });
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => { done = resolve; });
  await new Promise<void>((resolve) => server.listen(port, resolve));
  const client = b.net.connect({ port, host: '10.0.0.1' });
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  client.on('connect', () => {
    t0 = performance.now();
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        sent += chunk.length;
        if (!client.write(chunk)) { client.once('drain', pump); return; }
      }
      client.end();
    };
    pump();
  });
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 120_000).unref());
  const r = await Promise.race([finished, timeout]);
  server.close();
  return r === 'timeout' ? 'timeout' : { got, ms: t1 - t0 };
}

function sumStats(x: SocketOpStats, y: SocketOpStats, sign = 1): SocketOpStats {
  return {
    dataOps: x.dataOps + sign * y.dataOps, readinessChecks: x.readinessChecks + sign * y.readinessChecks,
    controlMessages: x.controlMessages + sign * y.controlMessages, appWakeMessages: x.appWakeMessages + sign * y.appWakeMessages,
    serverWakeMessages: x.serverWakeMessages + sign * y.serverWakeMessages, bytesWritten: x.bytesWritten + sign * y.bytesWritten,
    bytesRead: x.bytesRead + sign * y.bytesRead,
  };
}

/**
 * Two hosts on a virtual switch; warm-up transfers until the throughput is steady
 * (the JIT of every server's thread compiles its hot paths: a dozen isolates each
 * warm up on their own), then TIMED transfers on new connections, reported as their
 * median. Socket-operation counts are those of the timed transfers.
 */
async function newtosRun(placement: 'isolated' | 'monolithic' | 'postmessage', mtu: number, total: number): Promise<Run> {
  const sw = { descriptor: createVswitch({ ports: 2, mtu }), nextPort: 0 };
  const host = (name: string, ip: string): Promise<Stack> => createStack({
    name, placement, interfaces: [{ name: 'eth0', mtu, link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
    tcp: { sendBufferBytes: SOCKET_BUFFER, receiveBufferBytes: SOCKET_BUFFER, ...(CC !== undefined ? { congestionControl: CC } : {}) },
  }, { switches: { sw0: sw } });
  const a = await host('a', '10.0.0.1/24');
  const b = await host('b', '10.0.0.2/24');
  let port = 5000;
  try {
    const warmup: number[] = [];
    while (warmup.length < MAX_WARMUP) {
      const warm = await bulk(a, b, WARMUP_ROUND, port++);
      if (warm === 'timeout' || warm.got !== WARMUP_ROUND) return { gbps: null, stats: null, note: `warm-up failed: ${warm === 'timeout' ? 'timed out' : `${warm.got} bytes`}` };
      warmup.push(gbpsOf(warm.got, warm.ms));
      const n = warmup.length;
      if (n >= MIN_WARMUP && (n === 1 || Math.abs(warmup[n - 1]! - warmup[n - 2]!) <= 0.15 * warmup[n - 2]!)) break;
    }
    await new Promise((r) => setTimeout(r, 200));
    const before = sumStats(a.socketStats(), b.socketStats());
    const runs: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let k = 0; k < TIMED; k++) {
      const r = await bulk(a, b, total, port++);
      if (r === 'timeout') return { gbps: null, stats: null, note: 'timed out' };
      if (r.got !== total) return { gbps: null, stats: null, note: `received ${r.got} of ${total} bytes` };
      runs.push(gbpsOf(r.got, r.ms));
    }
    // CPU of the whole process (every server thread of both hosts and the apps) per MiB moved.
    const cpu = process.cpuUsage(cpu0);
    const stats = sumStats(sumStats(a.socketStats(), b.socketStats()), before, -1);
    return { gbps: median(runs), stats, warmup, runs, cpuMsPerMiB: (cpu.user + cpu.system) / 1000 / ((TIMED * total) / 2 ** 20) };
  } finally {
    await b.close();
    await a.close();
  }
}

/** Linux to Linux over a veth pair between two namespaces (python3 both ends), or null when not root. */
async function linuxVeth(total: number): Promise<Run> {
  if (process.getuid?.() !== 0) return { gbps: null, stats: null, note: 'needs root' };
  const tag = Math.random().toString(36).slice(2, 7);
  const n1 = `nbs1${tag}`; const n2 = `nbs2${tag}`;
  const sh = (args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });
  let receiver: LineReader | undefined;
  let sender: LineReader | undefined;
  try {
    sh(['netns', 'add', n1]); sh(['netns', 'add', n2]);
    sh(['link', 'add', `v1${tag}`, 'netns', n1, 'type', 'veth', 'peer', 'name', `v2${tag}`, 'netns', n2]);
    sh(['-n', n1, 'addr', 'add', '10.99.0.1/24', 'dev', `v1${tag}`]); sh(['-n', n2, 'addr', 'add', '10.99.0.2/24', 'dev', `v2${tag}`]);
    sh(['-n', n1, 'link', 'set', `v1${tag}`, 'up']); sh(['-n', n2, 'link', 'set', `v2${tag}`, 'up']);
    sh(['-n', n1, 'link', 'set', 'lo', 'up']); sh(['-n', n2, 'link', 'set', 'lo', 'up']);
    // The same Linux tools as the TAP figures: python3 sending zeros from memory in 1 MiB send()
    // calls, python3 receiving 1 MiB at a time and timing first byte to EOF, one process each for
    // every transfer; one warm-up, then the median of TIMED runs.
    receiver = await startAgent(n1, RECEIVER_PY, ['10.99.0.1', '5001']);
    sender = await startAgent(n2, SENDER_PY, ['10.99.0.1', '5001']);
    const runs: number[] = [];
    for (let k = 0; k <= TIMED; k++) {
      const report = receiver.next(60_000);
      sender.child.stdin!.write(`${total}\n`);
      const [bytes, seconds] = (await report).split(' ').map(Number);
      if (await sender.next(10_000) !== 'sent' || bytes !== total) throw new Error(`veth transfer failed: ${bytes} of ${total} bytes`);
      if (k > 0) runs.push(gbpsOf(total, seconds! * 1000));
    }
    return { gbps: median(runs), stats: null, runs };
  } catch (e) {
    return { gbps: null, stats: null, note: (e as Error).message.split('\n')[0] };
  } finally {
    for (const agent of [sender, receiver]) if (agent !== undefined && agent.child.exitCode === null) agent.child.kill('SIGKILL');
    try { sh(['netns', 'del', n1]); } catch { /* gone */ }
    try { sh(['netns', 'del', n2]); } catch { /* gone */ }
  }
}

const fmt = (r: Run): string => r.gbps === null ? `n/a (${r.note ?? ''})` : `${r.gbps.toFixed(3)} Gbit/s` +
  (r.cpuMsPerMiB !== undefined ? `, ${r.cpuMsPerMiB.toFixed(2)} CPU ms/MiB` : '') +
  (r.runs !== undefined ? ` (median of ${r.runs.map((x) => x.toFixed(2)).join(' / ')}` +
    (r.warmup !== undefined ? `; warm-up ${r.warmup.map((x) => x.toFixed(2)).join(' ')})` : ')') : '');

log(`bench:stack — single TCP stream, median of ${TIMED} transfers of ${TOTAL / 2 ** 20} MiB after warm-up transfers of ${WARMUP_ROUND / 2 ** 20} MiB until steady (${MIN_WARMUP}-${MAX_WARMUP}), newtos socket buffers ${SOCKET_BUFFER / 2 ** 20} MiB, 2 cores (every host's servers and the apps share them)`);
const isolated1500 = await newtosRun('isolated', 1500, TOTAL);
log(`newtos isolated,    MTU 1500 : ${fmt(isolated1500)} (2 cores)`);
const isolated64k = await newtosRun('isolated', 65535, TOTAL);
log(`newtos isolated,    MTU 64K  : ${fmt(isolated64k)} (2 cores)`);
const mono1500 = await newtosRun('monolithic', 1500, TOTAL);
log(`newtos monolithic,  MTU 1500 : ${fmt(mono1500)} (2 cores)`);
const pm1500 = await newtosRun('postmessage', 1500, TOTAL);
log(`newtos postMessage, MTU 1500 : ${fmt(pm1500)} (2 cores)`);
const veth = await linuxVeth(TOTAL * 2);
log(`Linux ⇄ Linux veth, MTU 1500 : ${fmt(veth)} (2 cores)`);
const ratio = (x: Run, y: Run): number | null => x.gbps !== null && y.gbps !== null && y.gbps > 0 ? x.gbps / y.gbps : null;
const pct = isolated1500.stats === null ? null : withoutMessagePct(isolated1500.stats);
log(`ratios: isolated/postMessage ${ratio(isolated1500, pm1500)?.toFixed(2) ?? 'n/a'}, isolated/monolithic ${ratio(isolated1500, mono1500)?.toFixed(2) ?? 'n/a'}, newtos isolated/Linux veth ${ratio(isolated1500, veth)?.toFixed(4) ?? 'n/a'}`);
log(`socket operations without a message (isolated, MTU 1500 bulk transfer): ${pct === null ? 'n/a' : pct.toFixed(2) + ' %'}`);
const tap = await tapFigures(TOTAL, smoke, CC);
log(`Linux → newtos over TAP, MTU 1500 : ${fmt({ ...tap.linuxToNewtos, stats: null })} (2 cores)`);
log(`newtos → Linux over TAP, MTU 1500 : ${fmt({ ...tap.newtosToLinux, stats: null })} (2 cores)`);
log('(TAP links with a virtio-net header: TSO/GSO and checksum offload with the kernel; python3 on the Linux side, 1 MiB send/recv, as in the veth run)');
if (json) {
  console.log(JSON.stringify({
    cores: 2, smoke, bytes: TOTAL, timed_runs: TIMED, warmup_round_bytes: WARMUP_ROUND, socket_buffer_bytes: SOCKET_BUFFER,
    gbps_isolated_mtu1500: isolated1500.gbps, gbps_isolated_64k: isolated64k.gbps,
    gbps_monolithic_mtu1500: mono1500.gbps, gbps_postmessage_mtu1500: pm1500.gbps,
    gbps_linux_veth_mtu1500: veth.gbps, gbps_tap_linux_to_newtos: tap.linuxToNewtos.gbps, gbps_tap_newtos_to_linux: tap.newtosToLinux.gbps,
    ratio_isolated_to_postmessage: ratio(isolated1500, pm1500), ratio_isolated_to_monolithic: ratio(isolated1500, mono1500),
    socket_ops_without_message_pct: pct,
    runs: Object.fromEntries(Object.entries({ isolated1500, isolated64k, mono1500, pm1500, veth })
      .map(([k, r]) => [k, { timed_gbps: r.runs ?? null, warmup_gbps: r.warmup ?? null, cpu_ms_per_mib: r.cpuMsPerMiB ?? null }])),
    notes: Object.fromEntries(Object.entries({ isolated1500, isolated64k, mono1500, pm1500, veth, tapLinuxToNewtos: tap.linuxToNewtos, tapNewtosToLinux: tap.newtosToLinux })
      .filter(([, r]) => r.note !== undefined).map(([k, r]) => [k, r.note])),
  }));
}
