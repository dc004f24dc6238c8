/**
 * Helpers for tests whose peer is the Linux kernel behind a newtos TAP device:
 * why such a test cannot run here, a newtos host attached to a namespace the
 * test made, long-running commands inside a namespace, and bulk TCP transfers
 * whose integrity is checked with sha256 on both ends.
 *
 * The TAP device is created by the newtos driver worker in the root namespace,
 * then moved into the test's namespace (the open fd stays attached):
 *
 *   newtos (NEWTOS_IP) ── TAP fd ══ DEV (LINUX_IP, in NS) ── Linux
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { missingTools, rigUnavailableReason, type Rig } from './netns.js';
import { createStack, type Stack } from '../../src/stack/host.js';
import { loadTapAddon } from '../../src/driver/nic/tap.js';
import type { NetServer } from '../../src/app/net-server.js';
import type { NetSocket } from '../../src/app/net-socket.js';
import { Stream, listenOn, streamData, until } from './tcp-stream.js';

export function sha(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Why a TAP test needing `tools` cannot run here, or ''. */
export function tapTestUnavailable(tools: readonly string[]): string {
  const rig = rigUnavailableReason();
  if (rig !== '') return rig;
  try {
    loadTapAddon();
  } catch (e) {
    return `needs the TAP addon: ${(e as Error).message}`;
  }
  const missing = missingTools(tools);
  if (missing.length > 0) return `needs the tools ${missing.join(', ')} (not installed)`;
  return '';
}

/** Starts a long-running command inside a namespace; resolves once `ready` matches its output. */
export function startIn(ns: string, argv: readonly string[], ready: RegExp, timeoutMs = 10_000): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${argv.join(' ')} not ready after ${timeoutMs} ms: ${out}`)), timeoutMs);
    const onData = (b: Buffer): void => {
      out += b.toString('utf8');
      if (ready.test(out)) { clearTimeout(timer); resolve({ child, output: () => out }); }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${argv.join(' ')} exited with ${String(code)}: ${out}`)); });
  });
}

/** Resolves true once the child has exited, false after timeoutMs. */
export function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => { clearTimeout(timer); resolve(true); });
  });
}

/** Kills a child we started (by its own handle) and waits for it. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await exited(child, 5000);
}

export interface TapHost {
  readonly stack: Stack;
  /** The namespace holding the kernel's end of the TAP. */
  readonly ns: string;
  /** The TAP device's name (inside `ns`). */
  readonly dev: string;
  /** Third octet of 10.77.X.0/24, the TAP link's subnet. */
  readonly subnet: number;
  readonly newtosIp: string;
  readonly linuxIp: string;
  /** newtos's MAC on the link, 'xx:xx:xx:xx:xx:xx'. */
  readonly mac: string;
}

export interface TapHostOptions {
  /** Third octet of the TAP link's 10.77.X.0/24 (random if absent). */
  readonly subnet?: number;
  /** Extra createStack configuration (routes, tcp, ...). */
  readonly config?: Record<string, unknown>;
  /** Give the kernel's end of the TAP the address LINUX_IP (default true; false: the device is only up). */
  readonly kernelAddress?: boolean;
  /** Open the TAP with a virtio-net header and TSO (default true, as createStack). */
  readonly vnetHeader?: boolean;
  /** Called with every supervisor 'log' event (NEWTOS_DEBUG_TCP_MS). */
  readonly onLog?: (server: string, detail: unknown) => void;
}

/**
 * A newtos host on a TAP device whose kernel end sits in a fresh namespace of
 * `rig` with address 10.77.X.1/24 (newtos is 10.77.X.2). The caller closes the
 * stack; the rig's cleanup removes the namespace (and the device with it).
 */
export async function tapHost(rig: Rig, name: string, options: TapHostOptions = {}): Promise<TapHost> {
  const subnet = options.subnet ?? randomInt(1, 255);
  const newtosIp = `10.77.${subnet}.2`;
  const linuxIp = `10.77.${subnet}.1`;
  const dev = rig.linkName('nt');
  const ns = await rig.netns();
  const mac = ['02', ...Array.from(randomBytes(5), (b) => b.toString(16).padStart(2, '0'))].join(':');
  const stack = await createStack({
    name,
    interfaces: [{ name: 'eth0', link: { type: 'tap', device: dev, ...(options.vnetHeader === undefined ? {} : { vnetHeader: options.vnetHeader }) }, addresses: [`${newtosIp}/24`], mac }],
    ...options.config,
  });
  rig.adoptRootLink(dev);
  if (options.onLog !== undefined) {
    const onLog = options.onLog;
    stack.supervisor.on('event', (e: { type: string; server?: string; detail?: unknown }) => {
      if (e.type === 'log') onLog(e.server ?? '?', e.detail);
    });
  }
  await rig.moveLink(dev, ns);
  if (options.kernelAddress !== false) await rig.addr(ns, dev, `${linuxIp}/24`);
  await rig.up(ns, dev);
  return { stack, ns, dev, subnet, newtosIp, linuxIp, mac };
}

/**
 * A newtos server on `port` that reads each connection to its end and answers
 * "<sha256> <length>\n" of what it read (the newtos end of pythonSource, as
 * pythonSink is the Linux end of a transfer from newtos).
 */
export async function hashingServer(stack: Stack, port: number): Promise<NetServer> {
  const server = stack.net.createServer((sock: NetSocket) => {
    const hash = createHash('sha256');
    let length = 0;
    sock.on('data', (c: Buffer) => { hash.update(c); length += c.length; });
    sock.on('end', () => sock.end(`${hash.digest('hex')} ${length}\n`));
    sock.on('error', () => sock.destroy());
  });
  await new Promise<void>((resolve) => server.listen(port, resolve));
  return server;
}

/** Restarts per server, from the supervisor's shared-memory statistics. */
export function restartsOf(stack: Stack): Record<string, number> {
  return Object.fromEntries(stack.snapshot().servers.map((s) => [s.name, s.restarts]));
}

/**
 * Python for the Linux end of a bulk transfer, run with `python3 -u -c`.
 * `sink`: listen on HOST:PORT, accept one connection, read to EOF, print
 * "<sha256> <length>". `source`: connect to HOST:PORT, send SIZE pseudo-random
 * bytes (seeded), shut down the write side, print "<sha256> <length>" of what
 * was sent, then read the peer's reply to EOF and print it (from `sourcePort`
 * if not 0).
 */
export function pythonSink(host: string, port: number): string {
  return [
    'import socket, hashlib',
    's = socket.socket()',
    's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
    `s.bind(('${host}', ${port}))`,
    's.listen(1)',
    'print("ready", flush=True)',
    'c, _ = s.accept()',
    'c.settimeout(60)',
    'h = hashlib.sha256(); n = 0',
    'while True:',
    '    b = c.recv(262144)',
    '    if not b: break',
    '    h.update(b); n += len(b)',
    'print(h.hexdigest(), n, flush=True)',
    'c.close()',
  ].join('\n');
}

export function pythonSource(host: string, port: number, size: number, seed: number, sourcePort = 0): string {
  return [
    'import socket, hashlib, random',
    `r = random.Random(${seed})`,
    `data = r.randbytes(${size})`,
    's = socket.socket()',
    's.settimeout(60)',
    `s.bind(('', ${sourcePort}))`,
    `s.connect(('${host}', ${port}))`,
    's.sendall(data)',
    's.shutdown(socket.SHUT_WR)',
    'print(hashlib.sha256(data).hexdigest(), len(data), flush=True)',
    'reply = b""',
    'while True:',
    '    b = s.recv(4096)',
    '    if not b: break',
    '    reply += b',
    'print(reply.decode().strip(), flush=True)',
  ].join('\n');
}

/**
 * The Linux end (python3 in the namespace): a connection to newtos's echo port, kept
 * idle; a connection to the transfer port, sending `size` seeded bytes from a thread
 * while reading `size` bytes; then one echo on the idle connection. Prints
 * "sent <sha256>", "recv <sha256> <length> <longest gap between reads, ms>", "echo <text>".
 * Any error (ECONNRESET included) ends it with a traceback and a non-zero status.
 */
export function pythonBothWays(host: string, port: number, echoPort: number, size: number): string {
  return [
    'import socket, hashlib, random, threading, time',
    `data = random.Random(7).randbytes(${size})`,
    `idle = socket.create_connection(('${host}', ${echoPort}), timeout=60)`,
    `s = socket.create_connection(('${host}', ${port}), timeout=60)`,
    'print("sent", hashlib.sha256(data).hexdigest(), flush=True)',
    'threading.Thread(target=lambda: s.sendall(data), daemon=True).start()',
    'h = hashlib.sha256(); n = 0; last = None; gap = 0.0',
    `while n < ${size}:`,
    '    b = s.recv(262144)',
    '    if not b: raise SystemExit("EOF after %d bytes" % n)',
    '    t = time.monotonic()',
    '    if last is not None: gap = max(gap, t - last)',
    '    last = t; h.update(b); n += len(b)',
    'print("recv", h.hexdigest(), n, round(gap * 1000, 1), flush=True)',
    'idle.sendall(b"still there?")',
    'got = b""',
    'while len(got) < 12: got += idle.recv(64)',
    'print("echo", got.decode(), flush=True)',
    'time.sleep(1)',
  ].join('\n');
}

/** A two-way transfer between newtos and Linux (pythonBothWays), with an idle echo connection beside it. */
export interface BothWays {
  /** newtos's end of the transfer. */
  readonly ours: Stream;
  /** newtos's ends of the idle connection (echo server side). */
  readonly idleSide: Stream[];
  readonly py: Awaited<ReturnType<typeof startIn>>;
  readonly toLinux: { readonly bytes: Buffer; readonly sha256: string };
  readonly echoServer: NetServer;
}

/**
 * Starts a transfer of `size` bytes each way between `host`'s newtos (ports 9 and 7) and
 * python3 in its namespace; the caller stops `py.child` when done (also on failure).
 */
export async function startBothWays(host: TapHost, size: number, onPy: (py: BothWays['py']) => void): Promise<BothWays> {
  const stack = host.stack;
  const toLinux = streamData(size);
  const echoServer = stack.net.createServer((s: NetSocket) => s.pipe(s));
  await new Promise<void>((resolve) => echoServer.listen(7, resolve));
  const idleSide: Stream[] = [];
  echoServer.on('connection', (s: NetSocket) => idleSide.push(new Stream(s, Infinity)));
  const accepted = listenOn(stack, 9);
  const py = await startIn(host.ns, ['python3', '-u', '-c', pythonBothWays(host.newtosIp, 9, 7, size)], /^sent /m, 30_000);
  onPy(py);
  const ours = new Stream(await accepted, size);
  ours.send(toLinux.bytes);
  return { ours, idleSide, py, toLinux, echoServer };
}

/**
 * Waits for both directions to finish and checks them: the sha256 each end computed, the idle
 * connection's echo, no error on the Linux side and no error or close seen by newtos's
 * application. Returns Linux's longest gap between reads, ms.
 */
export async function finishBothWays(b: BothWays, timeoutMs: number): Promise<number> {
  const got = await b.ours.within(timeoutMs);
  const sent = /^sent ([0-9a-f]{64})/m.exec(b.py.output())![1];
  assert.equal(got.sha256, sent, 'Linux → newtos intact');
  assert.ok(await until(() => /^echo /m.test(b.py.output()), timeoutMs), `Linux finished: ${b.py.output()}`);
  const recv = /^recv ([0-9a-f]{64}) (\d+) ([\d.]+)/m.exec(b.py.output());
  assert.ok(recv !== null, b.py.output());
  assert.equal(recv[1], b.toLinux.sha256, 'newtos → Linux intact');
  assert.match(b.py.output(), /^echo still there\?$/m, 'the idle connection carries on');
  assert.doesNotMatch(b.py.output(), /Error|Traceback/);
  for (const s of [b.ours, ...b.idleSide]) assert.deepEqual(s.events, [], 'no error or close seen by the newtos application');
  return Number(recv[3]);
}
