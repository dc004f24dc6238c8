/**
 * bench:stack's TAP figures: one bulk TCP stream between the Linux kernel and a
 * newtos host over a TAP device, each way, timed on the receiving side (first
 * byte to end of stream).
 *
 *   newtos 10.98.0.2 ── TAP ══ DEV 10.98.0.1 (namespace NS) ── python3
 *
 * Linux → newtos: python3 in NS sends `total` zero bytes (1 MiB send() calls) to a
 * newtos net server, which times them. newtos → Linux: a newtos client sends `total` bytes to a
 * python3 receiver in NS, which times them and reports. Each figure is the median of
 * three transfers on fresh connections after warm-up transfers until the throughput
 * is steady (each server thread's JIT warms up on its own, as in the rest of bench:stack). Needs root (a
 * namespace, a TAP device), the TAP addon and python3; otherwise both
 * figures are null with a note saying why. Everything made is removed again.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createStack, type Stack } from '../src/stack/host.js';
import { loadTapAddon } from '../src/nic/tap.js';

export interface TapFigure { readonly gbps: number | null; readonly note?: string; readonly warmup?: number[]; readonly runs?: number[] }

/**
 * Warm-up transfers of 64 MiB until two in a row agree within 15 % (8 to 16, as bench:stack's
 * newtos runs: the server threads' JIT warms up over some 500 MiB), then the median of 3 timed
 * transfers, each on a fresh connection.
 */
async function steady(one: (bytes: number) => Promise<TapFigure>, total: number): Promise<TapFigure> {
  const warmup: number[] = [];
  const round = Math.min(total, 64 * 1024 * 1024);
  while (warmup.length < 16) {
    const w = await one(round);
    if (w.gbps === null) return w;
    warmup.push(w.gbps);
    const n = warmup.length;
    if (n >= 8 && Math.abs(warmup[n - 1]! - warmup[n - 2]!) <= 0.15 * warmup[n - 2]!) break;
  }
  const runs: number[] = [];
  for (let k = 0; k < 3; k++) {
    const r = await one(total);
    if (r.gbps === null) return r;
    runs.push(r.gbps);
  }
  return { gbps: [...runs].sort((x, y) => x - y)[1]!, warmup, runs };
}

const NEWTOS_IP = '10.98.0.2';
const LINUX_IP = '10.98.0.1';

function unavailable(): string {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'needs root (a network namespace and a TAP device)';
  try { loadTapAddon(); } catch (e) { return `TAP addon missing: ${(e as Error).message}`; }
  for (const tool of ['python3']) {
    try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); } catch { return `needs ${tool}`; }
  }
  return '';
}

/** The Linux sender: `total` zero bytes from memory in 1 MiB send() calls (argv: host port total). */
export const SENDER_PY = `
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
b = bytes(1 << 20); n = int(sys.argv[3])
while n > 0:
    k = min(n, len(b)); s.sendall(b[:k] if k < len(b) else b); n -= k
s.close()
`;

/** The Linux receiver: prints 'ready', then "<bytes> <seconds from first byte to EOF>" (argv: host port). */
export const RECEIVER_PY = `
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
print('ready', flush=True)
c, _ = s.accept()
n = 0; t0 = None
while True:
    b = c.recv(1 << 20)
    if not b: break
    if t0 is None: t0 = time.monotonic()
    n += len(b)
print(n, time.monotonic() - (t0 or time.monotonic()), flush=True)
`;

function waitOutput(child: ChildProcess, re: RegExp, timeoutMs: number): Promise<string> {
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${String(re)} within ${timeoutMs} ms: ${out}`)), timeoutMs);
    const on = (b: Buffer): void => {
      out += b.toString();
      const m = re.exec(out);
      if (m !== null) { clearTimeout(timer); resolve(m[0]); }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.on('exit', () => { clearTimeout(timer); const m = re.exec(out); if (m !== null) resolve(m[0]); else reject(new Error(`exited: ${out}`)); });
  });
}

async function linuxToNewtos(stack: Stack, ns: string, total: number): Promise<TapFigure> {
  let got = 0;
  let t0 = 0;
  const done = new Promise<number>((resolve) => {
    const server = stack.net.createServer((s) => {
      s.on('data', (c: Buffer) => { if (got === 0) t0 = performance.now(); got += c.length; });
      s.on('end', () => { resolve(performance.now() - t0); server.close(); });
    });
    server.listen(5001);
  });
  await new Promise((r) => setTimeout(r, 50));
  const sender = spawn('ip', ['netns', 'exec', ns, 'python3', '-c', SENDER_PY, NEWTOS_IP, '5001', String(total)], { stdio: 'ignore' });
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 120_000).unref());
  const ms = await Promise.race([done, timeout]);
  if (sender.exitCode === null) sender.kill('SIGKILL');
  if (ms === 'timeout') return { gbps: null, note: `timed out after ${got} of ${total} bytes` };
  if (got !== total) return { gbps: null, note: `received ${got} of ${total} bytes` };
  return { gbps: (total * 8) / (ms / 1000) / 1e9 };
}

async function newtosToLinux(stack: Stack, ns: string, total: number): Promise<TapFigure> {
  const receiver = spawn('ip', ['netns', 'exec', ns, 'python3', '-u', '-c', RECEIVER_PY, LINUX_IP, '5002'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await waitOutput(receiver, /ready/, 10_000);
    const report = waitOutput(receiver, /^(\d+) ([\d.]+)$/m, 120_000);
    const client = stack.net.connect({ port: 5002, host: LINUX_IP });
    const chunk = Buffer.alloc(256 * 1024, 0x5a);
    client.on('connect', () => {
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
    client.on('error', () => { /* reported as a short count */ });
    const [bytes, seconds] = (await report).split(' ').map(Number);
    if (bytes !== total) return { gbps: null, note: `Linux received ${bytes} of ${total} bytes` };
    return { gbps: (total * 8) / seconds! / 1e9 };
  } catch (e) {
    return { gbps: null, note: (e as Error).message.split('\n')[0] };
  } finally {
    if (receiver.exitCode === null) receiver.kill('SIGKILL');
  }
}

/** Both TAP figures (Gbit/s, receiving side), or nulls with the reason. */
export async function tapFigures(total: number): Promise<{ linuxToNewtos: TapFigure; newtosToLinux: TapFigure }> {
  const why = unavailable();
  if (why !== '') return { linuxToNewtos: { gbps: null, note: why }, newtosToLinux: { gbps: null, note: why } };
  const tag = randomBytes(3).toString('hex');
  const ns = `nbtap${tag}`;
  const dev = `ntb${tag}`;
  const ip = (...args: string[]): void => { execFileSync('ip', args, { stdio: 'ignore' }); };
  let stack: Stack | undefined;
  try {
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    stack = await createStack({
      name: 'bench-tap',
      interfaces: [{ name: 'eth0', link: { type: 'tap', device: dev }, addresses: [`${NEWTOS_IP}/24`] }],
      tcp: { sendBufferBytes: 4 * 1024 * 1024, receiveBufferBytes: 4 * 1024 * 1024 },
    });
    ip('link', 'set', dev, 'netns', ns);
    ip('-n', ns, 'addr', 'add', `${LINUX_IP}/24`, 'dev', dev);
    ip('-n', ns, 'link', 'set', dev, 'up');
    const linuxToNewtosFigure = await steady((n) => linuxToNewtos(stack!, ns, n), total);
    const newtosToLinuxFigure = await steady((n) => newtosToLinux(stack!, ns, n), total);
    return { linuxToNewtos: linuxToNewtosFigure, newtosToLinux: newtosToLinuxFigure };
  } catch (e) {
    const note = (e as Error).message.split('\n')[0] ?? 'failed';
    return { linuxToNewtos: { gbps: null, note }, newtosToLinux: { gbps: null, note } };
  } finally {
    await stack?.close();
    try { ip('netns', 'del', ns); } catch { /* gone */ }
    try { ip('link', 'del', dev); } catch { /* went with the namespace or the stack */ }
  }
}
