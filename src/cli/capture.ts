/**
 * `newtos capture`: a pcap of an interface of a running `newtos up`, taken on
 * demand while it runs.
 *
 *   newtos capture --port N [--iface eth0] --out FILE [--count K] [--seconds S] [--snaplen B]
 *
 * The running host's control endpoint (`--stats-port`, loopback only) serves
 * GET /capture?iface=&count=&seconds=&snaplen= as a pcap byte stream: it
 * switches the interface's live capture on (stack.capture), answers once the
 * driver captures, streams records as they are drained, and switches capture
 * off when the count or time is reached or the client goes away.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { closeSync, openSync, writeSync } from 'node:fs';
import { NewtosError } from '../errors.js';
import type { Stack } from '../stack/host.js';
import { PCAP_FILE_HEADER_LEN, PcapWriter } from '../wire/pcap.js';
import type { LiveCapture } from '../driver/nic/capture-channel.js';

/** How often captured records are written to the client, ms. */
const FLUSH_MS = 20;

function positive(url: URL, name: string, max: number): number {
  const text = url.searchParams.get(name);
  if (text === null || text === '') return 0;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new NewtosError('ERR_INVALID_ARG_VALUE', `${name} must be an integer from 1 to ${max}`);
  return n;
}

/** Running captures of one control endpoint by interface: how to end each cleanly. */
export type CaptureRegistry = Map<string, () => Promise<void>>;

/**
 * GET /capture/stop?iface=: ends that interface's running capture cleanly (the
 * rest is drained and written, then its stream ends). 404 if none runs.
 */
export async function stopCapture(stack: Stack, running: CaptureRegistry, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const iface = url.searchParams.get('iface') ?? stack.config.interfaces[0]!.name;
  const finish = running.get(iface);
  if (finish === undefined) { res.writeHead(404, { 'content-type': 'text/plain' }).end(`no capture of ${iface} is running\n`); return; }
  await finish();
  res.writeHead(200, { 'content-type': 'text/plain' }).end('stopped\n');
}

/** Serves GET /capture on a running host's control endpoint. */
export async function serveCapture(stack: Stack, running: CaptureRegistry, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  let count: number; let seconds: number; let snaplen: number;
  try {
    count = positive(url, 'count', 2 ** 31);
    seconds = positive(url, 'seconds', 86_400);
    snaplen = positive(url, 'snaplen', 65535) || 65535;
  } catch (e) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`);
    return;
  }
  const iface = url.searchParams.get('iface') ?? stack.config.interfaces[0]!.name;
  let writer = new PcapWriter(snaplen);
  let frames = 0;
  let done = false;
  let capture: LiveCapture | undefined;
  const timers: { flush?: ReturnType<typeof setInterval>; stop?: ReturnType<typeof setTimeout> } = {};
  const flush = (): void => {
    const bytes = writer.bytes();
    if (bytes.length > PCAP_FILE_HEADER_LEN) res.write(bytes.subarray(PCAP_FILE_HEADER_LEN));
    writer = new PcapWriter(snaplen);
  };
  const finish = async (): Promise<void> => {
    if (done) return;
    done = true;
    if (running.get(iface) === finish) running.delete(iface);
    clearInterval(timers.flush);
    clearTimeout(timers.stop);
    await capture?.stop();
    flush();
    res.end();
  };
  try {
    capture = await stack.capture(iface, (_dir, frame, length, timeMs) => {
      // Not `done`: stop() drains what is still in the ring after finish began, and that belongs in the file.
      if (count > 0 && frames >= count) return;
      writer.write(frame, Math.floor(timeMs * 1000), length);
      // (Frames may already arrive while the capture starts: finish once it has.)
      if (++frames === count && capture !== undefined) void finish();
    }, { snaplen });
  } catch (e) {
    const code = (e as NewtosError).code;
    res.writeHead(code === 'EBUSY' ? 409 : code === 'ERR_INVALID_ARG_VALUE' ? 404 : 500, { 'content-type': 'text/plain' })
      .end(`${(e as Error).message}\n`);
    return;
  }
  // Capturing from here on: the headers and the pcap file header tell the client so.
  res.writeHead(200, { 'content-type': 'application/vnd.tcpdump.pcap', 'x-newtos-iface': iface });
  res.write(new PcapWriter(snaplen).bytes());
  running.set(iface, finish);
  timers.flush = setInterval(flush, FLUSH_MS);
  if (seconds > 0) timers.stop = setTimeout(() => void finish(), seconds * 1000);
  res.on('close', () => void finish());
  if (count > 0 && frames >= count) void finish();
}

export interface CaptureCommand {
  readonly port: number;
  readonly out: string;
  readonly iface?: string;
  readonly count?: number;
  readonly seconds?: number;
  readonly snaplen?: number;
}

/**
 * The client: streams the running host's capture into `out`. Prints
 * "capturing on IFACE" to stderr once the host captures; ends at the count or
 * time limit, or on SIGINT/SIGTERM: then it asks the host to stop
 * (/capture/stop), so frames captured up to that moment still reach the file
 * (it gives up and aborts after 3 s, or on a second signal).
 */
export async function runCapture(cmd: CaptureCommand): Promise<void> {
  const q = new URLSearchParams();
  if (cmd.iface !== undefined) q.set('iface', cmd.iface);
  if (cmd.count !== undefined) q.set('count', String(cmd.count));
  if (cmd.seconds !== undefined) q.set('seconds', String(cmd.seconds));
  if (cmd.snaplen !== undefined) q.set('snaplen', String(cmd.snaplen));
  const abort = new AbortController();
  let stopping = false;
  const onSignal = (): void => {
    if (stopping) { abort.abort(); return; }
    stopping = true;
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const stopQuery = cmd.iface === undefined ? '' : `?iface=${encodeURIComponent(cmd.iface)}`;
    fetch(`http://127.0.0.1:${cmd.port}/capture/stop${stopQuery}`).then((r) => r.text()).catch(() => abort.abort());
    setTimeout(() => abort.abort(), 3000).unref();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let res: Response;
  try {
    res = await fetch(`http://127.0.0.1:${cmd.port}/capture?${q.toString()}`, { signal: abort.signal });
  } catch (e) {
    throw new NewtosError('ECONNREFUSED', `no running newtos on control port ${cmd.port} (${(e as Error).message})`);
  }
  if (!res.ok || res.body === null) throw new NewtosError('ERR_NEWTOS_CAPTURE', `capture refused: ${(await res.text()).trim()}`);
  const fd = openSync(cmd.out, 'w');
  let bytes = 0;
  process.stderr.write(`newtos: capturing on ${res.headers.get('x-newtos-iface') ?? '?'} into ${cmd.out}\n`);
  try {
    for await (const chunk of res.body) {
      writeSync(fd, chunk as Uint8Array);
      bytes += (chunk as Uint8Array).length;
    }
  } catch (e) {
    if (!abort.signal.aborted) throw e;
  } finally {
    closeSync(fd);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  process.stderr.write(`newtos: wrote ${bytes} bytes to ${cmd.out}\n`);
}
