/**
 * `newtos inject SERVER [--fault crash|hang|exit|oom] [--replica N] --port PORT`: a fault
 * into a server of a running `newtos up` host, through its control port (`--stats-port`,
 * loopback only), and the host's side of it (`POST /inject?server=&fault=&replica=`), which
 * calls Stack.inject and answers once the supervisor has restarted the server, with the
 * cause and the restart time (JSON). Errors come back as JSON `{ error: { code, message } }`
 * and are printed as one line. `newtos revive SERVER --port PORT` (`POST /revive?server=&replica=`)
 * brings back a server the crash-loop limit gave up (Stack.revive), the same way.
 */
import type http from 'node:http';
import { parseArgs } from 'node:util';
import { FAULT_KINDS, type InjectResult, type Stack } from '../stack/host.js';
import type { FaultKind } from '../substrate/server-loop.js';
import { postControl } from './control-client.js';

/** HTTP status per error code of Stack.inject. */
const STATUS: Readonly<Record<string, number>> = {
  ERR_UNKNOWN_SERVER: 404, ERR_INVALID_ARG_VALUE: 400, ERR_OUT_OF_RANGE: 400, ERR_INVALID_STATE: 409, ERR_SERVER_FAILED: 409, ETIMEDOUT: 504,
};

export function isLoopback(address: string | undefined): boolean {
  return address !== undefined && (address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.'));
}

export function answer(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}

/** The host's side: POST /inject?server=tcp&fault=crash&replica=1 from loopback only. */
export async function serveInject(stack: Stack, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const fail = (status: number, code: string, message: string, extra: object = {}): void => answer(res, status, { error: { code, message }, ...extra });
  if (!isLoopback(req.socket.remoteAddress)) { fail(403, 'ERR_ACCESS_DENIED', 'faults are injected from this machine only'); return; }
  if (req.method !== 'POST') { res.setHeader('allow', 'POST'); fail(405, 'ERR_METHOD_NOT_ALLOWED', 'POST /inject?server=NAME[&fault=crash|hang|exit|oom][&replica=N]'); return; }
  const q = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const server = q.get('server') ?? '';
  const fault = (q.get('fault') ?? 'crash') as FaultKind;
  const replicaText = q.get('replica');
  const replica = replicaText === null ? 1 : Number(replicaText);
  try {
    const r = await stack.inject(server, fault, { replica });
    answer(res, 200, r);
  } catch (e) {
    const code = (e as { code?: string }).code ?? 'ERR_INJECT';
    fail(STATUS[code] ?? 500, code, (e as Error).message, code === 'ERR_UNKNOWN_SERVER' ? { servers: stack.supervisor.serverNames() } : {});
  }
}

/** How `newtos inject` prints a restart. */
export function injectLine(r: InjectResult): string {
  const did = { crash: 'crashed', hang: 'hung', exit: 'exited', oom: 'ran out of memory' }[r.cause] ?? r.cause;
  return `${r.server} ${did} (${r.reason}) → restarted in ${Math.round(r.restartMs)} ms (generation ${r.generation})`;
}

/** The client: `newtos inject SERVER --port PORT [--fault F] [--replica N] [--json]`; exit code. */
export async function runInject(args: string[], usage: (message: string) => never): Promise<number> {
  const { values, positionals } = parseArgs({
    args, strict: true, allowPositionals: true,
    options: { port: { type: 'string' }, fault: { type: 'string' }, replica: { type: 'string' }, json: { type: 'boolean' } },
  });
  if (positionals.length !== 1) usage(`inject needs one server name (driver, ip, pf, tcp, udp, sock)${positionals.length > 1 ? `, not ${positionals.length}` : ''}`);
  const server = positionals[0]!;
  const portText = values.port ?? '';
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) usage(`--port must name the stats port of a running \`newtos up\` (1 to 65535), not '${portText}'`);
  const fault = values.fault ?? 'crash';
  if (!(FAULT_KINDS as readonly string[]).includes(fault)) usage(`--fault must be one of ${FAULT_KINDS.join(', ')}, not '${fault}'`);
  const replica = values.replica ?? '1';
  if (!/^[0-9]{1,4}$/.test(replica) || Number(replica) < 1) usage(`--replica must be a positive integer, not '${replica}'`);
  const q = new URLSearchParams({ server, fault, replica });
  const body = await postControl<InjectResult>(port, `/inject?${q.toString()}`, 30_000);
  process.stdout.write(values.json === true ? `${JSON.stringify(body)}\n` : `${injectLine(body)}\n`);
  return 0;
}

/** The host's side of `newtos revive`: POST /revive?server=pf&replica=1 from loopback only. */
export async function serveRevive(stack: Stack, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const fail = (status: number, code: string, message: string, extra: object = {}): void => answer(res, status, { error: { code, message }, ...extra });
  if (!isLoopback(req.socket.remoteAddress)) { fail(403, 'ERR_ACCESS_DENIED', 'servers are revived from this machine only'); return; }
  if (req.method !== 'POST') { res.setHeader('allow', 'POST'); fail(405, 'ERR_METHOD_NOT_ALLOWED', 'POST /revive?server=NAME[&replica=N]'); return; }
  const q = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const replicaText = q.get('replica');
  try {
    answer(res, 200, await stack.revive(q.get('server') ?? '', { replica: replicaText === null ? 1 : Number(replicaText) }));
  } catch (e) {
    const code = (e as { code?: string }).code ?? 'ERR_REVIVE';
    fail(STATUS[code] ?? 500, code, (e as Error).message, code === 'ERR_UNKNOWN_SERVER' ? { servers: stack.supervisor.serverNames() } : {});
  }
}

/** The client: `newtos revive SERVER --port PORT [--replica N] [--json]`; exit code. */
export async function runRevive(args: string[], usage: (message: string) => never): Promise<number> {
  const { values, positionals } = parseArgs({
    args, strict: true, allowPositionals: true,
    options: { port: { type: 'string' }, replica: { type: 'string' }, json: { type: 'boolean' } },
  });
  if (positionals.length !== 1) usage(`revive needs one server name (driver, ip, pf, tcp, udp, sock)${positionals.length > 1 ? `, not ${positionals.length}` : ''}`);
  const portText = values.port ?? '';
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) usage(`--port must name the stats port of a running \`newtos up\` (1 to 65535), not '${portText}'`);
  const replica = values.replica ?? '1';
  if (!/^[0-9]{1,4}$/.test(replica) || Number(replica) < 1) usage(`--replica must be a positive integer, not '${replica}'`);
  const q = new URLSearchParams({ server: positionals[0]!, replica });
  const body = await postControl<Omit<InjectResult, 'fault'>>(port, `/revive?${q.toString()}`, 30_000);
  process.stdout.write(values.json === true ? `${JSON.stringify(body)}\n` : `${body.server} revived (it had failed: ${body.reason}) → running again, generation ${body.generation}, ${Math.round(body.restartMs)} ms after the death that failed it\n`);
  return 0;
}
