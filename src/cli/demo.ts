/**
 * `newtos demo`: two newtos hosts on the in-process virtual switch; an
 * unmodified Node `http.createServer(handler)` on one, http clients on the
 * other downloading and uploading with sha256 checks; a live view of every
 * server while it runs; then a larger download with a progress bar during which
 * the serving host's TCP and IP servers are crashed (the connection is resumed,
 * the bytes are hash-checked); a summary at the end. No privileges needed.
 */
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { createVswitch } from '../driver/nic/vswitch.js';
import { createStack, type Stack } from '../stack/host.js';
import { statsTable } from '../stack/stats-text.js';
import { withoutMessagePct } from '../abi/socket-block.js';
import type { SystemSnapshot } from '../substrate/supervisor.js';

export interface DemoOptions {
  placement?: 'isolated' | 'grouped' | 'monolithic' | 'postmessage' | 'auto';
  mtu?: number;
  /** Sizes of the files downloaded and uploaded, bytes. */
  sizes?: number[];
  /** Live view period, ms (0: no live view). */
  liveMs?: number;
  /** Size of the download during which TCP and IP are crashed, bytes (0: no faults). Default 32 MiB. */
  faultBytes?: number;
  out?: (line: string) => void;
  /** Where the progress bar goes (default: stdout when it is a terminal, else nowhere). */
  progress?: (text: string) => void;
}

export interface DemoResult {
  readonly transfers: { kind: 'download' | 'upload'; bytes: number; ms: number; ok: boolean }[];
  readonly allOk: boolean;
  readonly socketOpsWithoutMessagePct: number;
  readonly restarts: number;
  /** The crashes of the fault phase: server, restart time, and whether that transfer arrived intact. */
  readonly faults: { server: string; restartMs: number; intact: boolean }[];
}

/** A text progress bar: `[#####-----]  50 %  16.0 / 32.0 MB`. */
export function progressBar(done: number, total: number, width = 30): string {
  const f = total > 0 ? Math.min(1, done / total) : 1;
  const n = Math.round(f * width);
  return `[${'#'.repeat(n)}${'-'.repeat(width - n)}] ${String(Math.round(f * 100)).padStart(3)} %  ${(done / 1e6).toFixed(1)} / ${(total / 1e6).toFixed(1)} MB`;
}

/**
 * GET `path` from the serving host while crashing `crashes` in order on `server` (each once
 * the download has passed its share); resolves with the body's sha256 match and the restarts.
 */
async function downloadThroughCrashes(
  agent: http.Agent, server: Stack, path: string, expected: Buffer, crashes: readonly string[], progress: (text: string) => void,
): Promise<{ ok: boolean; ms: number; restarts: { server: string; restartMs: number }[] }> {
  const restarts: { server: string; restartMs: number }[] = [];
  const injections: Promise<void>[] = [];
  const t0 = performance.now();
  const body = await new Promise<Buffer>((resolve, reject) => {
    const req = http.request({ method: 'GET', path, agent, host: '10.0.0.1', port: 80 }, (res) => {
      const chunks: Buffer[] = [];
      let got = 0;
      let next = 0;
      let shown = -1;
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        got += c.length;
        const pct = Math.floor((got / expected.length) * 100);
        if (pct !== shown) { shown = pct; progress(progressBar(got, expected.length)); }
        // Crash k once (k + 1) / (n + 1) of the body has arrived.
        if (next < crashes.length && got >= ((next + 1) / (crashes.length + 1)) * expected.length) {
          const name = crashes[next++]!;
          injections.push(server.inject(name, 'crash').then((r) => { restarts.push({ server: name, restartMs: r.restartMs }); }));
        }
      });
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  await Promise.all(injections);
  return { ok: sha256(body) === sha256(expected), ms: performance.now() - t0, restarts };
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The application: plain Node http, nothing newtos-specific in the handler. */
function handler(files: Map<string, Buffer>): http.RequestListener {
  return (req, res) => {
    if (req.method === 'GET' && req.url !== undefined && files.has(req.url)) {
      const body = files.get(req.url)!;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length, 'x-sha256': sha256(body) });
      res.end(body);
      return;
    }
    if (req.method === 'POST' && req.url === '/upload') {
      const h = createHash('sha256');
      let n = 0;
      req.on('data', (c: Buffer) => { h.update(c); n += c.length; });
      req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify({ bytes: n, sha256: h.digest('hex') })); });
      return;
    }
    res.writeHead(404); res.end();
  };
}

function request(agent: http.Agent, opts: http.RequestOptions, body?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ ...opts, agent, host: '10.0.0.1', port: 80 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function runDemo(o: DemoOptions = {}): Promise<DemoResult> {
  const out = o.out ?? ((l: string) => console.log(l));
  const placement = o.placement ?? 'isolated';
  const mtu = o.mtu ?? 1500;
  const sizes = o.sizes ?? [256 * 1024, 2 * 1024 * 1024, 8 * 1024 * 1024];
  const sw = { descriptor: createVswitch({ ports: 2, mtu }), nextPort: 0 };
  const host = (name: string, ip: string): Promise<Stack> => createStack({
    name, placement, interfaces: [{ name: 'eth0', mtu, link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
  }, { switches: { sw0: sw } });
  const server = await host('server', '10.0.0.1/24');
  const client = await host('client', '10.0.0.2/24');
  const chosen = server.placementDecision === undefined ? '' : ` (auto: ${server.placementDecision.reason})`;
  out(`newtos demo: two hosts on an in-process virtual switch (MTU ${mtu}), ${server.placement} placement${chosen}: each host runs driver, ip, pf, tcp and sock servers`);
  let live: NodeJS.Timeout | undefined;
  const transfers: DemoResult['transfers'] = [];
  const faults: DemoResult['faults'] = [];
  try {
    const files = new Map<string, Buffer>(sizes.map((n, i) => [`/file${i}`, randomBytes(n)] as const));
    const httpServer = http.createServer(handler(files));
    await new Promise<void>((r) => server.http.serve(httpServer, 80, '0.0.0.0', r));
    out('server 10.0.0.1: Node http.createServer(handler) listening on port 80 over newtos');
    const agent = client.http.agent({ keepAlive: true });
    let prev: [SystemSnapshot, SystemSnapshot] | undefined;
    if ((o.liveMs ?? 1000) > 0) {
      live = setInterval(() => {
        const now: [SystemSnapshot, SystemSnapshot] = [server.snapshot(), client.snapshot()];
        out(statsTable('server', now[0], prev?.[0]));
        out(statsTable('client', now[1], prev?.[1]));
        prev = now;
      }, o.liveMs ?? 1000);
    }
    for (const [path, body] of files) {
      const t0 = performance.now();
      const r = await request(agent, { method: 'GET', path });
      const ok = r.status === 200 && sha256(r.body) === r.headers['x-sha256'] && sha256(r.body) === sha256(body);
      const ms = performance.now() - t0;
      transfers.push({ kind: 'download', bytes: r.body.length, ms, ok });
      out(`client GET ${path}: ${r.body.length} bytes in ${ms.toFixed(0)} ms, sha256 ${ok ? 'matches' : 'MISMATCH'}`);
    }
    for (const n of sizes) {
      const body = randomBytes(n);
      const t0 = performance.now();
      const r = await request(agent, { method: 'POST', path: '/upload', headers: { 'content-length': n } }, body);
      const reply = JSON.parse(r.body.toString()) as { bytes: number; sha256: string };
      const ok = r.status === 200 && reply.bytes === n && reply.sha256 === sha256(body);
      const ms = performance.now() - t0;
      transfers.push({ kind: 'upload', bytes: n, ms, ok });
      out(`client POST /upload: ${n} bytes in ${ms.toFixed(0)} ms, server's sha256 ${ok ? 'matches' : 'MISMATCH'}`);
    }
    const faultBytes = o.faultBytes ?? 32 * 1024 * 1024;
    if (faultBytes > 0) {
      if (live !== undefined) { clearInterval(live); live = undefined; }
      const big = randomBytes(faultBytes);
      files.set('/big', big);
      out(`client GET /big (${(faultBytes / 1e6).toFixed(1)} MB) while the server host's tcp and then ip servers are crashed:`);
      const bar = o.progress ?? (process.stdout.isTTY ? (t: string) => process.stdout.write(`\r${t}`) : () => {});
      const r = await downloadThroughCrashes(agent, server, '/big', big, ['tcp', 'ip'], bar);
      if (o.progress === undefined && process.stdout.isTTY) process.stdout.write('\n');
      transfers.push({ kind: 'download', bytes: faultBytes, ms: r.ms, ok: r.ok });
      for (const x of r.restarts) {
        faults.push({ ...x, intact: r.ok });
        out(`${x.server} crashed → restarted in ${Math.round(x.restartMs)} ms, transfer ${r.ok ? 'intact (sha256 matches)' : 'CORRUPTED (sha256 mismatch)'}`);
      }
      out(`client GET /big: ${faultBytes} bytes in ${r.ms.toFixed(0)} ms through ${r.restarts.length} crashes, sha256 ${r.ok ? 'matches' : 'MISMATCH'}`);
    }
    agent.destroy();
    httpServer.close();
  } finally {
    if (live !== undefined) clearInterval(live);
  }
  const stats = client.socketStats();
  const sstats = server.socketStats();
  const total = { ...stats };
  for (const k of Object.keys(sstats) as (keyof typeof sstats)[]) (total as Record<string, number>)[k] += sstats[k];
  const restarts = [...server.snapshot().servers, ...client.snapshot().servers].reduce((n, s) => n + s.restarts, 0);
  out(statsTable('server', server.snapshot()));
  out(statsTable('client', client.snapshot()));
  await client.close();
  await server.close();
  const bytes = transfers.reduce((n, t) => n + t.bytes, 0);
  const ms = transfers.reduce((n, t) => n + t.ms, 0);
  const allOk = transfers.every((t) => t.ok);
  const pct = withoutMessagePct(total);
  out(`summary: ${transfers.length} transfers, ${(bytes / 1e6).toFixed(1)} MB in ${(ms / 1000).toFixed(2)} s ` +
    `(${((bytes * 8) / ms / 1e3).toFixed(1)} Mbit/s on this 2-core machine), integrity ${allOk ? 'OK' : 'FAILED'}, ` +
    `${pct.toFixed(2)} % of socket operations without a message, ${restarts} server restarts`);
  return { transfers, allOk, socketOpsWithoutMessagePct: pct, restarts, faults };
}
