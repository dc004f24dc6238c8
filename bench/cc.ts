/**
 * npm run bench:cc — congestion controls compared on the same links: one TCP
 * stream between two newtos hosts on the in-process virtual switch, with the
 * switch's impairments (loss, reordering, delay; seeded), for each controller
 * given by --cc (default cubic,bbr):
 *   - clean:   no impairment, MTU 1500 (bulk: BBR must not cost throughput);
 *              warm-up transfers first, then the median of timed ones;
 *   - lossy:   5 % loss + 25 % reordering + 2 ms delay each way;
 *   - longfat: 1 % loss + 50 ms delay each way.
 * Each figure: seconds for the transfer (connect to the receiver's end of
 * stream), Mbit/s, and the sender's retransmitted segments as a share of
 * the segments it sent. The impairments apply both ways (ACKs are lost too).
 * `--json` prints one JSON object; `--smoke` runs tiny transfers only to check
 * that it works; `--bytes=N` sets the lossy transfers' size (default 20 MiB),
 * `--clean-bytes=N` the clean ones' (default 64 MiB),
 * `--profiles=clean,lossy,longfat` picks profiles.
 */
import { createVswitch, type VswitchImpairments } from '../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../src/stack/host.js';
import type { CounterTree } from '../src/abi/published-counters.js';
import { CONGESTION_CONTROL_NAMES, type CongestionControlName as Cc } from '../src/tcp/congestion/index.js';

const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const json = process.argv.includes('--json');
const smoke = process.argv.includes('--smoke');
const ccs = (arg('cc') ?? 'cubic,bbr').split(',') as Cc[];
for (const cc of ccs) {
  if (!CONGESTION_CONTROL_NAMES.includes(cc)) {
    console.error(`bench:cc: --cc takes ${CONGESTION_CONTROL_NAMES.join(', ')} (comma-separated), not '${cc}'`);
    process.exit(2);
  }
}
const MiB = 2 ** 20;
const LOSSY_BYTES = smoke ? MiB / 2 : Number(arg('bytes') ?? 20 * MiB);
const CLEAN_BYTES = smoke ? MiB : Number(arg('clean-bytes') ?? 64 * MiB);
const CLEAN_WARMUP = smoke ? 1 : 6;
const CLEAN_TIMED = smoke ? 1 : 3;
/** Socket buffers: 16 MiB holds the 50 ms profile's window (100 ms RTT) at ~1 Gbit/s. */
const SOCKET_BUFFER = 16 * MiB;
const TRANSFER_TIMEOUT_MS = smoke ? 60_000 : 300_000;
const log = (s: string): void => { if (!json) console.log(s); };

interface Profile { name: string; what: string; impairments: VswitchImpairments; bytes: number }
const ALL: Profile[] = [
  { name: 'clean', what: 'no impairment', impairments: {}, bytes: CLEAN_BYTES },
  { name: 'lossy', what: '5 % loss + 25 % reorder + 2 ms delay', impairments: { loss: 0.05, reorder: 0.25, delayMs: 2, seed: 16 }, bytes: LOSSY_BYTES },
  { name: 'longfat', what: '1 % loss + 50 ms delay', impairments: { loss: 0.01, delayMs: 50, seed: 16 }, bytes: LOSSY_BYTES },
];
const picked = (arg('profiles') ?? 'clean,lossy,longfat').split(',');
const profiles = ALL.filter((p) => picked.includes(p.name));

interface Figure { seconds: number | null; mbps: number | null; retransmitPct: number | null; runs?: number[]; note?: string }

const num = (t: CounterTree, k: string): number => (typeof t[k] === 'number' ? t[k] as number : 0);

/** One transfer of `total` bytes from b to a: ms from connect to the receiver's end. */
async function bulk(a: Stack, b: Stack, total: number, port: number): Promise<number | string> {
  let got = 0;
  let t0 = 0;
  let done: (v: number | string) => void = () => undefined;
  const finished = new Promise<number | string>((resolve) => { done = resolve; });
  const server = a.net.createServer((s) => {
    s.on('data', (c: Buffer) => { got += c.length; });
    s.on('end', () => done(got === total ? performance.now() - t0 : `received ${got} of ${total} bytes`));
    s.on('error', (e) => done(e.message));
  });
  await new Promise<void>((resolve) => server.listen(port, resolve));
  const client = b.net.connect({ port, host: '10.0.0.1' });
  client.on('error', (e) => done(e.message));
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  client.on('connect', () => {
    t0 = performance.now();
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        const n = Math.min(chunk.length, total - sent);
        sent += n;
        if (!client.write(n === chunk.length ? chunk : chunk.subarray(0, n))) { client.once('drain', pump); return; }
      }
      client.end();
    };
    pump();
  });
  const timer = setTimeout(() => done(`timed out after ${TRANSFER_TIMEOUT_MS / 1000} s (${got} of ${total} bytes)`), TRANSFER_TIMEOUT_MS);
  const r = await finished;
  clearTimeout(timer);
  client.destroy();
  server.close();
  return r;
}

async function run(p: Profile, cc: Cc): Promise<Figure> {
  const sw = { descriptor: createVswitch({ ports: 2, mtu: 1500, impairments: p.impairments }), nextPort: 0 };
  const host = (name: string, ip: string): Promise<Stack> => createStack({
    name, interfaces: [{ name: 'eth0', mtu: 1500, link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
    tcp: { congestionControl: cc, sendBufferBytes: SOCKET_BUFFER, receiveBufferBytes: SOCKET_BUFFER },
    limits: { maxSockets: 16 },
  }, { switches: { sw0: sw } });
  const a = await host('a', '10.0.0.1/24');
  const b = await host('b', '10.0.0.2/24');
  let port = 5000;
  try {
    const warm = p.name === 'clean' ? CLEAN_WARMUP : 0;
    for (let k = 0; k < warm; k++) {
      const r = await bulk(a, b, p.bytes, port++);
      if (typeof r === 'string') return { seconds: null, mbps: null, retransmitPct: null, note: `warm-up: ${r}` };
    }
    await new Promise((r) => setTimeout(r, 50)); // counters are published every 20 ms
    const c0 = b.counters().tcp;
    const timed = p.name === 'clean' ? CLEAN_TIMED : 1;
    const runs: number[] = [];
    for (let k = 0; k < timed; k++) {
      const r = await bulk(a, b, p.bytes, port++);
      if (typeof r === 'string') return { seconds: null, mbps: null, retransmitPct: null, note: r };
      runs.push(r / 1000);
    }
    await new Promise((r) => setTimeout(r, 50));
    const c1 = b.counters().tcp;
    const sent = num(c1, 'segmentsOut') - num(c0, 'segmentsOut');
    const rtx = num(c1, 'retransmits') - num(c0, 'retransmits');
    const seconds = [...runs].sort((x, y) => x - y)[Math.floor(runs.length / 2)]!;
    return { seconds, mbps: (p.bytes * 8) / seconds / 1e6, retransmitPct: sent > 0 ? (100 * rtx) / sent : null, runs };
  } finally {
    await b.close();
    await a.close();
  }
}

log(`bench:cc — one TCP stream between two newtos hosts on the virtual switch (MTU 1500, socket buffers ${SOCKET_BUFFER / MiB} MiB), controllers ${ccs.join(', ')}; 2 cores shared by both hosts' servers and the apps`);
const results: Record<string, Record<string, Figure>> = {};
for (const p of profiles) {
  results[p.name] = {};
  for (const cc of ccs) {
    const f = await run(p, cc);
    results[p.name]![cc] = f;
    const size = `${(p.bytes / MiB).toFixed(p.bytes < MiB ? 1 : 0)} MiB`;
    log(`${p.name.padEnd(8)} ${p.what.padEnd(38)} ${cc.padEnd(7)} ${size}: ` + (f.seconds === null
      ? `n/a (${f.note})`
      : `${f.seconds.toFixed(2)} s, ${f.mbps!.toFixed(0)} Mbit/s, retransmitted ${f.retransmitPct?.toFixed(1) ?? 'n/a'} % of segments sent`
        + (f.runs !== undefined && f.runs.length > 1 ? ` (median of ${f.runs.map((x) => x.toFixed(2)).join(' / ')} s)` : '')));
  }
}
if (json) {
  const flat: Record<string, number | null> = {};
  for (const [pn, byCc] of Object.entries(results)) {
    for (const [cc, f] of Object.entries(byCc)) {
      flat[`seconds_${pn}_${cc}`] = f.seconds;
      flat[`mbps_${pn}_${cc}`] = f.mbps;
      flat[`retransmit_pct_${pn}_${cc}`] = f.retransmitPct;
    }
    const c = byCc['cubic']?.seconds;
    const b = byCc['bbr']?.seconds;
    flat[`time_ratio_bbr_vs_cubic_${pn}`] = c != null && b != null && c > 0 ? b / c : null;
  }
  console.log(JSON.stringify({ cores: 2, smoke, lossy_bytes: LOSSY_BYTES, clean_bytes: CLEAN_BYTES, socket_buffer_bytes: SOCKET_BUFFER, ...flat, results }));
}
