/**
 * npm run bench:app [-- --json] [-- --seconds N] [-- --connections N] [-- --smoke] — an
 * unmodified Node application under load from Linux (root, wrk):
 *   - newtos: `newtos run --tap DEV --ip 10.95.0.2/24 -- node express-app.cjs` (the Express app
 *     of test/fixtures/run: a JSON API and a static file), in a network namespace whose kernel
 *     side of the TAP device is where wrk runs;
 *   - Linux: the same app with plain `node`, in a second namespace joined to wrk's by a veth
 *     pair (one hop, as the TAP is);
 * for the JSON API (GET /api/items) and the static file (GET /static/hello.txt), wrk with
 * N connections (64 by default) and one thread: requests/s, p50/p99 latency, and for newtos the
 * share of the app's socket operations done without a message (the preload writes the host's
 * counts at exit: NEWTOS_RUN_STATS). Linux has no such figure: every socket operation there is a
 * system call. A figure that could not be measured is null, with a note.
 * --smoke (test/bench/smoke.test.ts): one second per figure, only to check it runs.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const json = process.argv.includes('--json');
const smoke = process.argv.includes('--smoke');
const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const SECONDS = smoke ? 1 : arg('--seconds', 5);
const CONNECTIONS = smoke ? 4 : arg('--connections', 64);
const log = (s: string): void => { if (!json) console.log(s); };

const APP = fileURLToPath(new URL('../../test/fixtures/run/express-app.cjs', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const PATHS = { json: '/api/items', static: '/static/hello.txt' } as const;

interface Figure { reqPerS: number | null; p50Us: number | null; p99Us: number | null; errors?: string }
interface Side { figures: Record<keyof typeof PATHS, Figure>; withoutMessagePct: number | null; note?: string }

/** wrk's "50%   1.32ms" lines, in microseconds. */
function wrkPercentile(text: string, p: string): number | null {
  const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(text);
  if (m === null) return null;
  const v = Number(m[1]);
  return Math.round(m[2] === 'us' ? v : m[2] === 'ms' ? v * 1000 : v * 1e6);
}

const none = (note: string): Side => ({
  figures: { json: { reqPerS: null, p50Us: null, p99Us: null }, static: { reqPerS: null, p50Us: null, p99Us: null } }, withoutMessagePct: null, note,
});

/** Resolves once `child` printed a line matching `ready`; rejects if it exits first or after 30 s. */
function waitFor(child: ChildProcess, ready: RegExp, what: string): Promise<void> {
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start in 30 s: ${out}`)), 30_000);
    const on = (b: Buffer): void => { out += b.toString(); if (ready.test(out)) { clearTimeout(timer); resolve(); } };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${what} exited with ${code}: ${out}`)); });
  });
}

function wrk(ns: string, url: string, seconds: number): Figure {
  const out = execFileSync('ip', ['netns', 'exec', ns, 'wrk', '-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', url],
    { encoding: 'utf8', timeout: seconds * 1000 + 30_000 });
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const errors = /Socket errors:.*|Non-2xx or 3xx responses:.*/g.exec(out)?.[0];
  return {
    reqPerS: rps === null ? null : Math.round(Number(rps[1])), p50Us: wrkPercentile(out, '50'), p99Us: wrkPercentile(out, '99'),
    ...(errors !== undefined ? { errors } : {}),
  };
}

/** Loads the app at `base` from namespace `ns`: each path warmed up one second, then measured. */
function load(ns: string, base: string): Record<keyof typeof PATHS, Figure> {
  const figures = {} as Record<keyof typeof PATHS, Figure>;
  for (const [k, path] of Object.entries(PATHS) as [keyof typeof PATHS, string][]) {
    wrk(ns, base + path, 1); // the JIT of every thread on the path
    figures[k] = wrk(ns, base + path, SECONDS);
  }
  return figures;
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

async function run(): Promise<{ newtos: Side; linux: Side }> {
  if (process.getuid?.() !== 0) {
    const n = none('needs root (network namespaces, a TAP device)');
    return { newtos: n, linux: n };
  }
  try { execFileSync('sh', ['-c', 'command -v wrk'], { stdio: 'ignore' }); } catch {
    const n = none('needs wrk (apt-get install wrk)');
    return { newtos: n, linux: n };
  }
  const tag = randomBytes(3).toString('hex');
  const nsLoad = `nbal${tag}`; const nsLinux = `nbax${tag}`;
  const tap = `nbt${tag}`;
  const ip = (...a: string[]): void => { execFileSync('ip', a, { stdio: 'ignore' }); };
  const dir = mkdtempSync(join(tmpdir(), 'newtos-bench-app-'));
  const statsFile = join(dir, 'stats.json');
  let newtosApp: ChildProcess | undefined;
  let linuxApp: ChildProcess | undefined;
  try {
    ip('netns', 'add', nsLoad); ip('-n', nsLoad, 'link', 'set', 'lo', 'up');
    ip('netns', 'add', nsLinux); ip('-n', nsLinux, 'link', 'set', 'lo', 'up');
    // wrk's namespace: the TAP's kernel side (newtos behind it) and a veth to Linux's app.
    ip('-n', nsLoad, 'tuntap', 'add', 'dev', tap, 'mode', 'tap');
    ip('-n', nsLoad, 'addr', 'add', '10.95.0.1/24', 'dev', tap); ip('-n', nsLoad, 'link', 'set', tap, 'up');
    ip('link', 'add', `nbv${tag}`, 'netns', nsLoad, 'type', 'veth', 'peer', 'name', `nbw${tag}`, 'netns', nsLinux);
    ip('-n', nsLoad, 'addr', 'add', '10.94.0.1/24', 'dev', `nbv${tag}`); ip('-n', nsLoad, 'link', 'set', `nbv${tag}`, 'up');
    ip('-n', nsLinux, 'addr', 'add', '10.94.0.2/24', 'dev', `nbw${tag}`); ip('-n', nsLinux, 'link', 'set', `nbw${tag}`, 'up');

    let newtos: Side;
    try {
      newtosApp = spawn('ip', ['netns', 'exec', nsLoad, process.execPath, CLI, 'run', '--tap', tap, '--ip', '10.95.0.2/24', '--', 'node', APP],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NEWTOS_RUN_STATS: statsFile } });
      await waitFor(newtosApp, /express listening/, 'newtos run (the app)');
      const figures = load(nsLoad, 'http://10.95.0.2:3000');
      await stop(newtosApp);
      let pct: number | null = null;
      try { pct = Number((JSON.parse(readFileSync(statsFile, 'utf8')) as { withoutMessagePct: number }).withoutMessagePct.toFixed(2)); } catch { /* no stats: null */ }
      newtos = { figures, withoutMessagePct: pct };
    } catch (e) {
      newtos = none((e as Error).message.split('\n')[0] ?? 'failed');
    }
    let linux: Side;
    try {
      linuxApp = spawn('ip', ['netns', 'exec', nsLinux, process.execPath, APP], { stdio: ['ignore', 'pipe', 'pipe'] });
      await waitFor(linuxApp, /express listening/, 'the app on Linux');
      linux = { figures: load(nsLoad, 'http://10.94.0.2:3000'), withoutMessagePct: null, note: 'every socket operation on Linux is a system call' };
    } catch (e) {
      linux = none((e as Error).message.split('\n')[0] ?? 'failed');
    }
    return { newtos, linux };
  } finally {
    await stop(newtosApp);
    await stop(linuxApp);
    try { ip('netns', 'del', nsLoad); } catch { /* gone */ }
    try { ip('netns', 'del', nsLinux); } catch { /* gone */ }
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (f: Figure): string => f.reqPerS === null ? 'n/a'
  : `${f.reqPerS} requests/s, p50 ${f.p50Us} us, p99 ${f.p99Us} us${f.errors !== undefined ? ` (${f.errors})` : ''}`;

log(`bench:app — wrk -t1 -c${CONNECTIONS} from Linux, ${SECONDS} s per figure after 1 s warm-up, the unmodified Express app of test/fixtures/run; 2 cores shared by wrk, the app and (newtos) the host's servers`);
const r = await run();
for (const [name, side] of [['newtos run over TAP', r.newtos], ['Linux over veth', r.linux]] as const) {
  for (const k of Object.keys(PATHS) as (keyof typeof PATHS)[]) log(`${name.padEnd(20)} ${PATHS[k].padEnd(18)} ${fmt(side.figures[k])}`);
  if (side.withoutMessagePct !== null) log(`${name.padEnd(20)} socket operations without a message: ${side.withoutMessagePct} %`);
  if (side.note !== undefined) log(`${name.padEnd(20)} ${side.note}`);
}
const ratio = (x: number | null, y: number | null): number | null => x === null || y === null || y === 0 ? null : Number((x / y).toFixed(3));
const out = {
  cores: 2, smoke, seconds: SECONDS, connections: CONNECTIONS,
  newtos: r.newtos, linux: r.linux,
  json_ratio_newtos_vs_linux: ratio(r.newtos.figures.json.reqPerS, r.linux.figures.json.reqPerS),
  static_ratio_newtos_vs_linux: ratio(r.newtos.figures.static.reqPerS, r.linux.figures.static.reqPerS),
};
log(`newtos/Linux requests/s: JSON API ${out.json_ratio_newtos_vs_linux ?? 'n/a'}, static file ${out.static_ratio_newtos_vs_linux ?? 'n/a'}`);
if (json) console.log(JSON.stringify(out));
