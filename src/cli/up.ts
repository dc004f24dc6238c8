/**
 * `newtos up`: one newtos host attached to Linux through a TAP device, to a
 * virtual machine or another host by Ethernet over UDP (host-flags.ts), or by
 * any link a configuration file names, optionally serving a directory over http
 * (static-files.ts) and echoing on a TCP port, with its statistics (and live
 * capture, see capture.ts) on a loopback http port.
 *
 * Start-up either completes or fails before "up" is printed: flags are checked
 * first (a port must be 1..65535, --http a directory), then the stack starts
 * (createStack rejects on a link it cannot open, and is bounded), then every
 * listen is awaited; any failure stops the stack and exits 1 naming the flag.
 * Runs until SIGINT/SIGTERM; shutdown is bounded (a second signal ends it at once).
 */
import { topSnapshot } from './top.js';
import type { MonitorDecision } from '../stack/replica-monitor.js';
import type { ThreadDecision } from '../substrate/thread-monitor.js';
import type { RegroupDecision } from '../stack/placement-monitor.js';
import http from 'node:http';
import type { EventEmitter } from 'node:events';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { NewtosError } from '../errors.js';
import { DEFAULT_TCP_BUFFER_BYTES, defaultMaxSockets, loadStackConfigFile } from '../config/stack-config.js';
import { createStack, type Stack } from '../stack/host.js';
import type { SupervisorEvent } from '../substrate/supervisor.js';
import { serveInject, serveRevive } from './inject.js';
import { regroupLine, serveRegroup } from './regroup.js';
import { hostPrometheus, hostStatsText } from '../stack/stats-text.js';
import { serveCapture, stopCapture, type CaptureRegistry } from './capture.js';
import { HOST_FLAGS, hostConfigFromFlags } from './host-flags.js';
import { staticFiles } from './static-files.js';
import { tapNotice, tapStateBefore } from './tap-notice.js';

/** How long one listen may take before start-up is given up, ms. */
const LISTEN_TIMEOUT_MS = 10_000;
/** How long shutdown may take after the first signal, ms. */
const SHUTDOWN_TIMEOUT_MS = 5_000;

function badFlag(message: string): NewtosError {
  return new NewtosError('ERR_INVALID_ARG_VALUE', message);
}

/** A TCP port flag's value: an integer from 1 to 65535, else a usage error naming the flag. */
export function portFlag(flag: string, text: string): number {
  const n = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 65535)) throw badFlag(`${flag} must be a port from 1 to 65535, not '${text}'`);
  return n;
}

/** Resolves once `server` listens; rejects with `what` and the error (EADDRINUSE, ...), or after a bound. */
function listening(server: EventEmitter, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(timer);
      server.off('listening', onListening);
      server.off('error', onError);
      if (err === undefined) resolve(); else reject(err);
    };
    const onListening = (): void => done();
    const onError = (e: Error & { code?: string }): void => {
      const why = e.code === 'EADDRINUSE' ? 'the port is already in use' : e.message;
      done(new NewtosError(e.code ?? 'ERR_LISTEN', `${what}: ${why}`, { cause: e }));
    };
    const timer = setTimeout(() => done(new NewtosError('ETIMEDOUT', `${what}: no answer within ${LISTEN_TIMEOUT_MS / 1000} s`)), LISTEN_TIMEOUT_MS);
    server.on('listening', onListening);
    server.on('error', onError);
  });
}

export async function runUp(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args, strict: true,
    options: { ...HOST_FLAGS, http: { type: 'string' }, echo: { type: 'string' }, 'stats-port': { type: 'string' }, config: { type: 'string' } },
  });
  const echoPort = values.echo === undefined ? undefined : portFlag('--echo', values.echo);
  const statsPort = values['stats-port'] === undefined ? undefined : portFlag('--stats-port', values['stats-port']);
  let root: string | undefined;
  if (values.http !== undefined) {
    root = resolve(values.http);
    let isDir = false;
    try { isDir = statSync(root).isDirectory(); } catch { /* refused below */ }
    if (!isDir) throw badFlag(`--http needs a directory to serve, and '${values.http}' is not one`);
    if (echoPort === 80) throw badFlag('--echo 80: --http serves tcp port 80 already; give --echo another port');
  }
  let config: Record<string, unknown>;
  if (values.config !== undefined) {
    for (const flag of Object.keys(HOST_FLAGS) as (keyof typeof HOST_FLAGS)[]) {
      if (values[flag] !== undefined) throw badFlag(`--${flag} and --config both describe the host: give one`);
    }
    // Checked here for errors with line numbers; createStack takes the file's plain value
    // (it validates again, and a validated config no longer has the text forms).
    loadStackConfigFile(values.config);
    config = JSON.parse(readFileSync(values.config, 'utf8')) as Record<string, unknown>;
    config['placement'] ??= 'auto';
  } else {
    config = hostConfigFromFlags(values, 'up');
    // A file server's sends: a 4 MiB send ring per socket (Linux's tcp_wmem maximum) instead of
    // 256 KiB; a 256 KiB ring holds half a millisecond at 4 Gbit/s, less than a refill takes
    // (curl of 200 MB over TAP, 2 cores: 2.4-2.7 Gbit/s with 256 KiB, 3.8 with 2 MiB, 4.5
    // with 4 MiB). The socket table then holds 481 sockets, not 1024 (limits.maxSockets).
    if (root !== undefined) config['tcp'] = { ...(config['tcp'] as object | undefined), sendBufferBytes: HTTP_SEND_BUFFER_BYTES };
  }
  const tapBefore = values.tap === undefined ? undefined : tapStateBefore(values.tap);
  const stack = await createStack(config);
  const name = (stack.config.name ?? 'newtos');
  const closers: (() => void)[] = [];
  try {
    if (root !== undefined) {
      const server = http.createServer(staticFiles(root));
      // The listener's errors reach the server too (http glue): reported by listening() during
      // start-up, logged after it.
      let started = false;
      server.on('error', (e) => { if (started) process.stderr.write(`newtos: --http: ${e.message}\n`); });
      const l = stack.http.serve(server, 80);
      closers.push(() => server.close());
      await listening(l, '--http: cannot listen on tcp port 80 of the newtos host');
      started = true;
    }
    if (echoPort !== undefined) {
      const l = stack.net.createServer((s) => { s.on('error', () => s.destroy()); s.pipe(s); });
      l.listen(echoPort);
      closers.push(() => l.close());
      await listening(l, `--echo ${echoPort}: cannot listen on tcp port ${echoPort} of the newtos host`);
      l.on('error', (e) => process.stderr.write(`newtos: --echo: ${e.message}\n`));
    }
    if (statsPort !== undefined) {
      const server = statsServer(stack, name).listen(statsPort, '127.0.0.1');
      closers.push(() => server.close());
      await listening(server, `--stats-port ${statsPort}: cannot listen on 127.0.0.1:${statsPort}`);
      server.on('error', (e) => process.stderr.write(`newtos: --stats-port: ${e.message}\n`));
    }
  } catch (e) {
    for (const c of closers) c();
    await stack.close();
    throw e;
  }
  if (root !== undefined) {
    const tcp = stack.config.tcp;
    const sendMiB = (tcp?.sendBufferBytes ?? DEFAULT_TCP_BUFFER_BYTES) / 1024 ** 2;
    process.stdout.write(`${name}: serving ${root} over http on port 80 (send buffers ${sendMiB} MiB, at most ${stack.config.limits?.maxSockets ?? defaultMaxSockets(tcp)} TCP sockets)\n`);
  }
  if (echoPort !== undefined) process.stdout.write(`${name}: echo on tcp port ${echoPort}\n`);
  if (statsPort !== undefined) process.stdout.write(`${name}: statistics on http://127.0.0.1:${statsPort}/ (newtos stats --port ${statsPort})\n`);
  if (tapBefore !== undefined) {
    const note = tapNotice(values.tap!, tapBefore, stack.config.interfaces[0]!.addresses[0]!);
    if (note !== undefined) process.stderr.write(`newtos: ${note}\n`);
  }
  // Every restart from now on, one line each (recoveryLine).
  stack.supervisor.on('event', (e: SupervisorEvent) => {
    const line = recoveryLine(e);
    if (line !== null) process.stdout.write(`${name}: ${line}\n`);
  });
  if (stack.placementDecision !== undefined) process.stdout.write(`${name}: placement auto → ${stack.placementDecision.placement} (${stack.placementDecision.reason})\n`);
  // The thread monitor's spins and pins (parking an idle thread is routine: not printed).
  stack.on('thread-monitor', (d: ThreadDecision) => {
    if (d.action === 'polling' && d.to !== 'busy' && d.from !== 'busy') return;
    const what = d.action === 'polling' ? `polling ${d.from} → ${d.to}` : d.action === 'pin' ? `pinned to core ${d.to}` : 'unpinned';
    process.stdout.write(`${name}: monitor: thread ${d.thread} ${what} (${d.reason})\n`);
  });
  // The placement monitor's decisions and every regroup (by it or by `newtos regroup`).
  stack.on('placement', (d: RegroupDecision) => process.stdout.write(`${name}: monitor: placement ${d.from} → ${d.to} (${d.reason})\n`));
  stack.on('placement-failed', (f: { error: string }) => process.stdout.write(`${name}: monitor: regroup failed: ${f.error}\n`));
  stack.on('regroup', (r: Parameters<typeof regroupLine>[0]) => process.stdout.write(`${name}: regrouped ${regroupLine(r)}\n`));
  // The replica monitor's decisions, with the figures behind them.
  stack.on('monitor', (d: MonitorDecision) => {
    process.stdout.write(`${name}: monitor: ${d.action} ${d.from} → ${d.to} replicas (load ${d.loadFps} frames/s; per replica ${d.perReplicaFps.join(', ')}; ${d.entriesMoved} table entries moved, ${d.entriesPending} waiting for their connections)\n`);
  });
  process.stdout.write(`${name}: up (${stack.config.interfaces.map((i) => `${i.name} ${i.addresses.map((a) => a.text).join(',')}`).join('; ')})\n`);
  await untilSignal();
  // Bounded: a stop that hangs ends the process anyway, and a second signal ends it at once.
  const bound = setTimeout(() => {
    process.stderr.write(`newtos: shutdown took over ${SHUTDOWN_TIMEOUT_MS / 1000} s; exiting without waiting\n`);
    process.exit(1);
  }, SHUTDOWN_TIMEOUT_MS);
  bound.unref();
  const again = (): never => process.exit(1);
  process.once('SIGINT', again);
  process.once('SIGTERM', again);
  for (const c of closers) c();
  await stack.close();
  clearTimeout(bound);
  process.off('SIGINT', again);
  process.off('SIGTERM', again);
}

function untilSignal(): Promise<void> {
  return new Promise<void>((r) => {
    const done = (): void => { process.off('SIGINT', done); process.off('SIGTERM', done); r(); };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}

/** `up --http` (host from flags): each socket's send ring. */
export const HTTP_SEND_BUFFER_BYTES = 4 * 1024 * 1024;

const DEATHS: Readonly<Record<string, string>> = { crash: 'crashed', hang: 'hung', exit: 'exited', oom: 'ran out of memory' };

/**
 * A supervisor event as `newtos up` prints it: a server running again after a death
 * ("tcp crashed (Error: injected crash in tcp) → restarted in 41 ms") or given up after
 * a crash loop; null for every other event.
 */
export function recoveryLine(e: SupervisorEvent): string | null {
  const d = e.detail ?? {};
  if (e.type === 'recovered') {
    const cause = String(d['cause']);
    return `${e.server} ${DEATHS[cause] ?? cause} (${String(d['reason'])}) → restarted in ${Math.round(Number(d['restartMs']))} ms (generation ${e.generation})`;
  }
  if (e.type === 'failed') {
    const retry = typeof d['retryAfterMs'] === 'number' ? `revived by itself in ${d['retryAfterMs']} ms, or at once with` : 'brought back with';
    return `${e.server} ${DEATHS[String(d['cause'])] ?? 'died'} (${String(d['reason'])}) → NOT restarted: ${String(d['restartsInWindow'])} restarts within ${String(d['windowMs'])} ms (crash loop; ${retry} \`newtos revive ${e.server} --port PORT\`)`;
  }
  return null;
}

/** The loopback control endpoint: /stats (text), /metrics (Prometheus), /top.json (top.ts), /capture (capture.ts), POST /inject and /revive (inject.ts), POST /regroup (regroup.ts). */
function statsServer(stack: Stack, name: string): http.Server {
  const captures: CaptureRegistry = new Map();
  return http.createServer((req, res) => {
    if (req.url?.startsWith('/inject') === true) { void serveInject(stack, req, res); return; }
    if (req.url?.startsWith('/revive') === true) { void serveRevive(stack, req, res); return; }
    if (req.url?.startsWith('/regroup') === true) { void serveRegroup(stack, req, res); return; }
    if (req.url?.startsWith('/capture/stop') === true) { void stopCapture(stack, captures, req, res); return; }
    if (req.url?.startsWith('/capture') === true) { void serveCapture(stack, captures, req, res); return; }
    if (req.url === '/top.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(topSnapshot(name, stack)));
      return;
    }
    if (req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(hostPrometheus(name, stack));
    } else {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(hostStatsText(name, stack));
    }
  });
}
