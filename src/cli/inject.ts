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

/**
 * A control request from loopback only, by POST: its query, or null when refused (answered).
 * `what` completes "... from this machine only", `usage` the 405's message.
 */
function controlQuery(req: http.IncomingMessage, res: http.ServerResponse, what: string, usage: string): URLSearchParams | null {
  const fail = (status: number, code: string, message: string): void => answer(res, status, { error: { code, message } });
  if (!isLoopback(req.socket.remoteAddress)) { fail(403, 'ERR_ACCESS_DENIED', `${what} from this machine only`); return null; }
  if (req.method !== 'POST') { res.setHeader('allow', 'POST'); fail(405, 'ERR_METHOD_NOT_ALLOWED', usage); return null; }
  return new URL(req.url ?? '/', 'http://localhost').searchParams;
}

/** Answers with `run`'s result, or its error as JSON with the HTTP status of its code. */
async function answerWith(stack: Stack, res: http.ServerResponse, run: () => Promise<unknown>, fallbackCode: string): Promise<void> {
  try {
    answer(res, 200, await run());
  } catch (e) {
    const code = (e as { code?: string }).code ?? fallbackCode;
    answer(res, STATUS[code] ?? 500, { error: { code, message: (e as Error).message }, ...(code === 'ERR_UNKNOWN_SERVER' ? { servers: stack.supervisor.serverNames() } : {}) });
  }
}

const replicaOf = (q: URLSearchParams): number => { const t = q.get('replica'); return t === null ? 1 : Number(t); };

/** The host's side: POST /inject?server=tcp&fault=crash&replica=1 from loopback only. */
export async function serveInject(stack: Stack, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const q = controlQuery(req, res, 'faults are injected', 'POST /inject?server=NAME[&fault=crash|hang|exit|oom][&replica=N]');
  if (q === null) return;
  await answerWith(stack, res, () => stack.inject(q.get('server') ?? '', (q.get('fault') ?? 'crash') as FaultKind, { replica: replicaOf(q) }), 'ERR_INJECT');
}

/** How `newtos inject` prints a restart. */
export function injectLine(r: InjectResult): string {
  const did = { crash: 'crashed', hang: 'hung', exit: 'exited', oom: 'ran out of memory' }[r.cause] ?? r.cause;
  return `${r.server} ${did} (${r.reason}) → restarted in ${Math.round(r.restartMs)} ms (generation ${r.generation})`;
}

/** The command's one server name and the `--port` of the running `newtos up` (usage() on a bad one). */
function serverAndPort(command: string, positionals: readonly string[], portText: string, usage: (message: string) => never): { server: string; port: number } {
  if (positionals.length !== 1) usage(`${command} needs one server name (driver, ip, pf, tcp, udp, sock)${positionals.length > 1 ? `, not ${positionals.length}` : ''}`);
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) usage(`--port must name the stats port of a running \`newtos up\` (1 to 65535), not '${portText}'`);
  return { server: positionals[0]!, port };
}

/** `--replica N` as given (default '1'), or usage(). */
function replicaFlag(text: string | undefined, usage: (message: string) => never): string {
  const replica = text ?? '1';
  if (!/^[0-9]{1,4}$/.test(replica) || Number(replica) < 1) usage(`--replica must be a positive integer, not '${replica}'`);
  return replica;
}

/** The client: `newtos inject SERVER --port PORT [--fault F] [--replica N] [--json]`; exit code. */
export async function runInject(args: string[], usage: (message: string) => never): Promise<number> {
  const { values, positionals } = parseArgs({
    args, strict: true, allowPositionals: true,
    options: { port: { type: 'string' }, fault: { type: 'string' }, replica: { type: 'string' }, json: { type: 'boolean' } },
  });
  const { server, port } = serverAndPort('inject', positionals, values.port ?? '', usage);
  const fault = values.fault ?? 'crash';
  if (!(FAULT_KINDS as readonly string[]).includes(fault)) usage(`--fault must be one of ${FAULT_KINDS.join(', ')}, not '${fault}'`);
  const q = new URLSearchParams({ server, fault, replica: replicaFlag(values.replica, usage) });
  const body = await postControl<InjectResult>(port, `/inject?${q.toString()}`, 30_000);
  process.stdout.write(values.json === true ? `${JSON.stringify(body)}\n` : `${injectLine(body)}\n`);
  return 0;
}

/** The host's side of `newtos revive`: POST /revive?server=pf&replica=1 from loopback only. */
export async function serveRevive(stack: Stack, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const q = controlQuery(req, res, 'servers are revived', 'POST /revive?server=NAME[&replica=N]');
  if (q === null) return;
  await answerWith(stack, res, () => stack.revive(q.get('server') ?? '', { replica: replicaOf(q) }), 'ERR_REVIVE');
}

/** The client: `newtos revive SERVER --port PORT [--replica N] [--json]`; exit code. */
export async function runRevive(args: string[], usage: (message: string) => never): Promise<number> {
  const { values, positionals } = parseArgs({
    args, strict: true, allowPositionals: true,
    options: { port: { type: 'string' }, replica: { type: 'string' }, json: { type: 'boolean' } },
  });
  const { server, port } = serverAndPort('revive', positionals, values.port ?? '', usage);
  const q = new URLSearchParams({ server, replica: replicaFlag(values.replica, usage) });
  const body = await postControl<Omit<InjectResult, 'fault'>>(port, `/revive?${q.toString()}`, 30_000);
  process.stdout.write(values.json === true ? `${JSON.stringify(body)}\n` : `${body.server} revived (it had failed: ${body.reason}) → running again, generation ${body.generation}, ${Math.round(body.restartMs)} ms after the death that failed it\n`);
  return 0;
}
