/**
 * `newtos up`: one newtos host attached to Linux through a TAP device, to a
 * virtual machine or another host by Ethernet over UDP (host-flags.ts), or by
 * any link a configuration file names, optionally serving a directory over http
 * and echoing on a TCP port, with its statistics (and live capture, see
 * capture.ts) on a loopback http port.
 * Runs until SIGINT/SIGTERM.
 */
import http from 'node:http';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { join, normalize, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { NewtosError } from '../errors.js';
import { loadStackConfigFile } from '../config/stack-config.js';
import { createStack } from '../stack/host.js';
import { hostPrometheus, hostStatsText } from '../stack/stats-text.js';
import { serveCapture, stopCapture, type CaptureRegistry } from './capture.js';
import { HOST_FLAGS, hostConfigFromFlags } from './host-flags.js';

export async function runUp(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args, strict: true,
    options: { ...HOST_FLAGS, http: { type: 'string' }, echo: { type: 'string' }, 'stats-port': { type: 'string' }, config: { type: 'string' } },
  });
  let config: Record<string, unknown>;
  if (values.config !== undefined) {
    for (const flag of Object.keys(HOST_FLAGS) as (keyof typeof HOST_FLAGS)[]) {
      if (values[flag] !== undefined) throw new NewtosError('ERR_INVALID_ARG_VALUE', `--${flag} and --config both describe the host: give one`);
    }
    // Checked here for errors with line numbers; createStack takes the file's plain value
    // (it validates again, and a validated config no longer has the text forms).
    loadStackConfigFile(values.config);
    config = JSON.parse(readFileSync(values.config, 'utf8')) as Record<string, unknown>;
  } else {
    config = hostConfigFromFlags(values, 'up');
  }
  const stack = await createStack(config);
  const name = (stack.config.name ?? 'newtos');
  const closers: (() => void)[] = [];
  if (values.http !== undefined) {
    const root = resolve(values.http);
    const server = http.createServer((req, res) => {
      const path = normalize(join(root, decodeURIComponent((req.url ?? '/').split('?')[0]!)));
      if (!path.startsWith(root)) { res.writeHead(403); res.end(); return; }
      let size: number;
      try { const st = statSync(path); if (!st.isFile()) throw new Error('not a file'); size = st.size; } catch { res.writeHead(404); res.end(); return; }
      res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
      createReadStream(path).pipe(res);
    });
    const l = stack.http.serve(server, 80);
    closers.push(() => l.close());
    process.stdout.write(`${name}: serving ${root} over http on port 80\n`);
  }
  if (values.echo !== undefined) {
    const port = Number(values.echo);
    const l = stack.net.createServer((s) => s.pipe(s)).listen(port);
    closers.push(() => l.close());
    process.stdout.write(`${name}: echo on tcp port ${port}\n`);
  }
  let statsServer: http.Server | undefined;
  if (values['stats-port'] !== undefined) {
    const captures: CaptureRegistry = new Map();
    statsServer = http.createServer((req, res) => {
      if (req.url?.startsWith('/capture/stop') === true) { void stopCapture(stack, captures, req, res); return; }
      if (req.url?.startsWith('/capture') === true) { void serveCapture(stack, captures, req, res); return; }
      if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(hostPrometheus(name, stack));
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(hostStatsText(name, stack));
      }
    }).listen(Number(values['stats-port']), '127.0.0.1');
  }
  process.stdout.write(`${name}: up (${stack.config.interfaces.map((i) => `${i.name} ${i.addresses.map((a) => a.text).join(',')}`).join('; ')})\n`);
  await new Promise<void>((r) => {
    process.once('SIGINT', r);
    process.once('SIGTERM', r);
  });
  for (const c of closers) c();
  statsServer?.close();
  await stack.close();
}
