/**
 * bench:stack's TAP figures: one bulk TCP stream between the Linux kernel and a
 * newtos host over a TAP device, each way, timed on the receiving side (first
 * byte to end of stream).
 *
 *   newtos 10.98.0.2 ── TAP ══ DEV 10.98.0.1 (namespace NS) ── python3
 *
 * Linux → newtos: python3 in NS sends `total` zero bytes (1 MiB send() calls) to a
 * newtos net server, which times them. newtos → Linux: a newtos client sends `total` bytes to a
 * python3 receiver in NS, which times them and reports.
 *
 * One python3 process per direction serves every transfer, told what to do on its stdin:
 * no process is started between transfers. Starting one forks this process, and a fork
 * write-protects all of its private memory for copy-on-write — the packet pools and socket
 * rings of the stack included — so every page the stack then writes costs a page fault.
 * On this paravirtualised machine that held Linux → newtos at about 1 Gbit/s for the first
 * 300 ms of each transfer (perf: do_wp_page under the TAP read's copy and the ring copies;
 * 2.0 → 2.7 Gbit/s over 128 MiB once the sender was started once). Each figure is the median of
 * three transfers on fresh connections after warm-up transfers until the throughput
 * is steady (each server thread's JIT warms up on its own, as in the rest of bench:stack). Needs root (a
 * namespace, a TAP device), the TAP addon and python3; otherwise both
 * figures are null with a note saying why. Everything made is removed again.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createStack, type Stack } from '../src/stack/host.js';
import { loadTapAddon } from '../src/driver/nic/tap.js';
import type { CongestionControlName } from '../src/tcp/congestion/index.js';

export interface TapFigure { readonly gbps: number | null; readonly note?: string; readonly warmup?: number[]; readonly runs?: number[] }

/**
 * Warm-up transfers of 64 MiB until two in a row agree within 15 % (8 to 16, as bench:stack's
 * newtos runs: the server threads' JIT warms up over some 500 MiB), then the median of 3 timed
 * transfers, each on a fresh connection.
 */
async function steady(one: (bytes: number) => Promise<TapFigure>, total: number, smoke: boolean): Promise<TapFigure> {
  const warmup: number[] = [];
  const round = Math.min(total, 64 * 1024 * 1024);
  // Smoke mode (test/bench): one warm-up and one timed transfer, only to see that it runs.
  const [minWarmup, maxWarmup, timed] = smoke ? [1, 1, 1] : [8, 16, 3];
  while (warmup.length < maxWarmup) {
    const w = await one(round);
    if (w.gbps === null) return w;
    warmup.push(w.gbps);
    const n = warmup.length;
    if (n >= minWarmup && (n === 1 || Math.abs(warmup[n - 1]! - warmup[n - 2]!) <= 0.15 * warmup[n - 2]!)) break;
  }
  const runs: number[] = [];
  for (let k = 0; k < timed; k++) {
    const r = await one(total);
    if (r.gbps === null) return r;
    runs.push(r.gbps);
  }
  return { gbps: [...runs].sort((x, y) => x - y)[Math.floor(runs.length / 2)]!, warmup, runs };
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

/** The Linux sender for every transfer (argv: host port): per stdin line "<total>", a fresh connection sending `total` zero bytes; then "sent". */
export const SENDER_PY = `
import socket, sys
b = bytes(1 << 20)
print('ready', flush=True)
for line in sys.stdin:
    n = int(line)
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    while n > 0:
        k = min(n, len(b)); s.sendall(b[:k] if k < len(b) else b); n -= k
    s.close()
    print('sent', flush=True)
`;

/**
 * The Linux receiver for every transfer (argv: host port): prints 'ready', then per connection
 * "<bytes> <seconds from first byte to EOF>". It reads into one 1 MiB buffer (recv_into): with
 * recv(), Python made a fresh 1 MiB object per call, and that allocation, not TCP, set the pace —
 * Linux to Linux over the veth measured 4 Gbit/s in most runs and 15-18 in a few; with
 * recv_into, 17-18 in every run (2 cores).
 */
export const RECEIVER_PY = `
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
buf = bytearray(1 << 20)
print('ready', flush=True)
while True:
    c, _ = s.accept()
    n = 0; t0 = None
    while True:
        k = c.recv_into(buf)
        if k == 0: break
        if t0 is None: t0 = time.monotonic()
        n += k
    c.close()
    print(n, time.monotonic() - (t0 or time.monotonic()), flush=True)
`;

/** The lines a long-lived child prints, awaited one at a time. */
export class LineReader {
  private buffered = '';
  private readonly lines: string[] = [];
  private waiter: ((line: string | null) => void) | null = null;
  private ended = false;

  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (b: Buffer) => {
      this.buffered += b.toString();
      for (let i = this.buffered.indexOf('\n'); i >= 0; i = this.buffered.indexOf('\n')) {
        this.lines.push(this.buffered.slice(0, i).trim());
        this.buffered = this.buffered.slice(i + 1);
      }
      this.wake();
    });
    child.on('exit', () => { this.ended = true; this.wake(); });
  }

  private wake(): void {
    const w = this.waiter;
    if (w === null) return;
    if (this.lines.length > 0) { this.waiter = null; w(this.lines.shift()!); } else if (this.ended) { this.waiter = null; w(null); }
  }

  /** The next line, or a rejection after timeoutMs or when the child exits first. */
  next(timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiter = null; reject(new Error(`no output within ${timeoutMs} ms`)); }, timeoutMs);
      this.waiter = (line) => { clearTimeout(timer); if (line === null) reject(new Error('the Linux side exited')); else resolve(line); };
      this.wake();
    });
  }
}

/** A python3 agent in namespace `ns`, started once; resolves after it printed 'ready'. */
export async function startAgent(ns: string, script: string, args: string[]): Promise<LineReader> {
  const child = spawn('ip', ['netns', 'exec', ns, 'python3', '-u', '-c', script, ...args], { stdio: ['pipe', 'pipe', 'ignore'] });
  const reader = new LineReader(child);
  const first = await reader.next(30_000);
  if (first !== 'ready') throw new Error(`python3 agent said '${first}'`);
  return reader;
}

async function linuxToNewtos(stack: Stack, sender: LineReader, total: number): Promise<TapFigure> {
  let got = 0;
  let t0 = 0;
  let server: ReturnType<Stack['net']['createServer']> | undefined;
  const done = new Promise<number>((resolve) => {
    server = stack.net.createServer((s) => {
      s.on('data', (c: Buffer) => { if (got === 0) t0 = performance.now(); got += c.length; });
      s.on('end', () => { resolve(performance.now() - t0); });
    });
    server.listen(5001);
  });
  try {
    await new Promise((r) => setTimeout(r, 50));
    sender.child.stdin!.write(`${total}\n`);
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 120_000).unref());
    const ms = await Promise.race([done, timeout]);
    if (ms === 'timeout') return { gbps: null, note: `timed out after ${got} of ${total} bytes` };
    if (await sender.next(10_000) !== 'sent') return { gbps: null, note: 'the Linux sender did not finish' };
    if (got !== total) return { gbps: null, note: `received ${got} of ${total} bytes` };
    return { gbps: (total * 8) / (ms / 1000) / 1e9 };
  } finally {
    server?.close();
  }
}

async function newtosToLinux(stack: Stack, receiver: LineReader, total: number): Promise<TapFigure> {
  const report = receiver.next(120_000);
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
  try {
    const [bytes, seconds] = (await report).split(' ').map(Number);
    if (bytes !== total) return { gbps: null, note: `Linux received ${bytes} of ${total} bytes` };
    return { gbps: (total * 8) / seconds! / 1e9 };
  } catch (e) {
    client.destroy();
    return { gbps: null, note: (e as Error).message.split('\n')[0] };
  }
}

/** Both TAP figures (Gbit/s, receiving side), or nulls with the reason. */
export async function tapFigures(total: number, smoke = false, cc?: CongestionControlName): Promise<{ linuxToNewtos: TapFigure; newtosToLinux: TapFigure }> {
  const why = unavailable();
  if (why !== '') return { linuxToNewtos: { gbps: null, note: why }, newtosToLinux: { gbps: null, note: why } };
  const tag = randomBytes(3).toString('hex');
  const ns = `nbtap${tag}`;
  const dev = `ntb${tag}`;
  const ip = (...args: string[]): void => { execFileSync('ip', args, { stdio: 'ignore' }); };
  let stack: Stack | undefined;
  let sender: LineReader | undefined;
  let receiver: LineReader | undefined;
  try {
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    stack = await createStack({
      name: 'bench-tap',
      interfaces: [{ name: 'eth0', link: { type: 'tap', device: dev }, addresses: [`${NEWTOS_IP}/24`] }],
      tcp: { sendBufferBytes: 4 * 1024 * 1024, receiveBufferBytes: 4 * 1024 * 1024, ...(cc !== undefined ? { congestionControl: cc } : {}) },
    });
    ip('link', 'set', dev, 'netns', ns);
    ip('-n', ns, 'addr', 'add', `${LINUX_IP}/24`, 'dev', dev);
    ip('-n', ns, 'link', 'set', dev, 'up');
    // Both agents start before any transfer: no fork of this process between or during them.
    sender = await startAgent(ns, SENDER_PY, [NEWTOS_IP, '5001']);
    receiver = await startAgent(ns, RECEIVER_PY, [LINUX_IP, '5002']);
    const linuxToNewtosFigure = await steady((n) => linuxToNewtos(stack!, sender!, n), total, smoke);
    const newtosToLinuxFigure = await steady((n) => newtosToLinux(stack!, receiver!, n), total, smoke);
    return { linuxToNewtos: linuxToNewtosFigure, newtosToLinux: newtosToLinuxFigure };
  } catch (e) {
    const note = (e as Error).message.split('\n')[0] ?? 'failed';
    return { linuxToNewtos: { gbps: null, note }, newtosToLinux: { gbps: null, note } };
  } finally {
    for (const agent of [sender, receiver]) if (agent !== undefined && agent.child.exitCode === null) agent.child.kill('SIGKILL');
    await stack?.close();
    try { ip('netns', 'del', ns); } catch { /* gone */ }
    try { ip('link', 'del', dev); } catch { /* went with the namespace or the stack */ }
  }
}
