/**
 * npm run bench:http [-- --json] [--mb N] [--runs N] [--smoke] — a big file over HTTP, as a user
 * fetches one: curl from the kernel side of a TAP device downloads an N MB file (default 200)
 * from `newtos up --tap DEV --http DIR` (the CLI as a user runs it, placement auto), `--runs`
 * times in a row (default 6: the first ones warm the JIT and the page cache); and, the
 * reference, curl downloads the same file from `python3 -m http.server` on Linux's own stack
 * in another namespace over a veth. Per side: Gbit/s of each run, the median and the best;
 * `ratio_newtos_vs_linux` compares the medians. Needs root (namespaces, a TAP device), curl and
 * python3; otherwise every figure is null with a note. Everything made is removed again.
 * --smoke (test/bench): a 2 MB file, two runs each, only to check that it works.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineReader } from './stack-tap.js';
import { tapUp, vethPair, type TapUp, type VethPair } from './netns.js';

const json = process.argv.includes('--json');
const smoke = process.argv.includes('--smoke');
const flag = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isFinite(v) || v <= 0) { console.error(`bench:http: ${name} takes a positive number`); process.exit(2); }
  return v;
};
const MB = smoke ? 2 : flag('--mb', 200);
const RUNS = smoke ? 2 : Math.round(flag('--runs', 6));
const log = (s: string): void => { if (!json) console.log(s); };

interface Side { readonly runsGbps: number[]; readonly medianGbps: number | null; readonly bestGbps: number | null; readonly note?: string }

const none = (note: string): Side => ({ runsGbps: [], medianGbps: null, bestGbps: null, note });

function missing(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, a TAP device)';
  for (const tool of ['curl', 'python3', 'ip']) {
    try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); } catch { return `needs ${tool}`; }
  }
  return null;
}

/** curl in `ns` downloads `url` RUNS times; Gbit/s of each. */
function curlRuns(ns: string, url: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = execFileSync('ip', ['netns', 'exec', ns, 'curl', '-s', '-o', '/dev/null', '--max-time', '120', '-w', '%{size_download} %{speed_download}', url], { encoding: 'utf8', timeout: 130_000 });
    const [size, speed] = r.trim().split(' ').map(Number) as [number, number];
    if (size !== MB * 1e6) throw new Error(`curl got ${size} of ${MB * 1e6} bytes`);
    out.push(Number(((speed * 8) / 1e9).toFixed(2)));
  }
  return out;
}

function side(runs: number[]): Side {
  const sorted = [...runs].sort((x, y) => x - y);
  return { runsGbps: runs, medianGbps: sorted[Math.floor(sorted.length / 2)] ?? null, bestGbps: sorted.at(-1) ?? null };
}

async function newtosSide(dir: string): Promise<Side> {
  let up: TapUp | undefined;
  try {
    up = await tapUp('nbh', '10.95.0', ['--http', dir]);
    return side(curlRuns(up.ns, 'http://10.95.0.2/big.bin'));
  } catch (e) {
    return none((e as Error).message.split('\n')[0] ?? 'failed');
  } finally {
    await up?.close();
  }
}

async function linuxSide(dir: string): Promise<Side> {
  let pair: VethPair | undefined;
  let server: ChildProcess | undefined;
  try {
    pair = vethPair('nbl', '10.94.0');
    server = spawn('ip', ['netns', 'exec', pair.n1, 'python3', '-u', '-m', 'http.server', '80', '--bind', '10.94.0.1', '--directory', dir], { stdio: ['ignore', 'pipe', 'ignore'] });
    // http.server says "Serving HTTP on ..." once it listens.
    const reader = new LineReader(server);
    for (;;) if (/Serving HTTP/.test(await reader.next(30_000))) break;
    return side(curlRuns(pair.n2, 'http://10.94.0.1/big.bin'));
  } catch (e) {
    return none((e as Error).message.split('\n')[0] ?? 'failed');
  } finally {
    server?.kill('SIGKILL');
    pair?.close();
  }
}

const fmt = (s: Side): string => s.medianGbps === null ? `n/a (${s.note ?? ''})` : `${s.runsGbps.join(' / ')} Gbit/s (median ${s.medianGbps}, best ${s.bestGbps})`;

log(`bench:http — curl downloads a ${MB} MB file ${RUNS} times in a row; 2 cores shared by curl, the server and the stack`);
const why = missing();
let newtos: Side;
let linux: Side;
if (why !== null) {
  newtos = none(why);
  linux = none(why);
} else {
  const dir = mkdtempSync(join(tmpdir(), 'newtos-bench-http-'));
  try {
    writeFileSync(join(dir, 'big.bin'), randomBytes(MB * 1e6));
    newtos = await newtosSide(dir);
    linux = await linuxSide(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
log(`newtos up --http over TAP:               ${fmt(newtos)}`);
log(`python3 -m http.server on Linux, veth:   ${fmt(linux)}`);
const ratio = newtos.medianGbps !== null && linux.medianGbps !== null && linux.medianGbps > 0 ? Number((newtos.medianGbps / linux.medianGbps).toFixed(3)) : null;
log(`median newtos / Linux: ${ratio ?? 'n/a'}`);
if (json) {
  console.log(JSON.stringify({
    bench: 'http', smoke, cores: 2, mb: MB, runs: RUNS,
    newtos_gbps_median: newtos.medianGbps, newtos_gbps_best: newtos.bestGbps, newtos_gbps_runs: newtos.runsGbps,
    linux_python_gbps_median: linux.medianGbps, linux_python_gbps_best: linux.bestGbps, linux_python_gbps_runs: linux.runsGbps,
    ratio_newtos_vs_linux: ratio,
    notes: { ...(newtos.note !== undefined ? { newtos: newtos.note } : {}), ...(linux.note !== undefined ? { linux: linux.note } : {}) },
  }));
}
