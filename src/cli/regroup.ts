/**
 * `newtos regroup isolated|grouped --port PORT [--json]`: moves the servers of a running
 * `newtos up` host to another placement through its control port (`--stats-port`, loopback
 * only), and the host's side of it (`POST /regroup?placement=`), which calls Stack.regroup and
 * answers once every moved server runs in its new thread, with what moved and how long it took
 * (JSON). Errors come back as JSON `{ error: { code, message } }` and are printed as one line.
 */
import type http from 'node:http';
import { parseArgs } from 'node:util';
import type { Stack } from '../stack/host.js';
import type { RegroupResult } from '../substrate/supervisor.js';
import { postControl } from './control-client.js';
import { answer, isLoopback } from './inject.js';

const PLACEMENTS = ['isolated', 'grouped'] as const;

/** HTTP status per error code of Stack.regroup. */
const STATUS: Readonly<Record<string, number>> = {
  ERR_INVALID_ARG_VALUE: 400, ERR_REGROUP_UNSUPPORTED: 409, EBUSY: 409, ERR_SERVER_STOPPED: 409, ETIMEDOUT: 504,
};

type Answer = RegroupResult & { readonly placement: string };

/** The host's side: POST /regroup?placement=grouped from loopback only. */
export async function serveRegroup(stack: Stack, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const fail = (status: number, code: string, message: string): void => answer(res, status, { error: { code, message } });
  if (!isLoopback(req.socket.remoteAddress)) { fail(403, 'ERR_ACCESS_DENIED', 'servers are moved from this machine only'); return; }
  if (req.method !== 'POST') { res.setHeader('allow', 'POST'); fail(405, 'ERR_METHOD_NOT_ALLOWED', 'POST /regroup?placement=isolated|grouped'); return; }
  const placement = new URL(req.url ?? '/', 'http://localhost').searchParams.get('placement') ?? '';
  try {
    answer(res, 200, await stack.regroup(placement as 'isolated'));
  } catch (e) {
    const code = (e as { code?: string }).code ?? 'ERR_REGROUP';
    fail(STATUS[code] ?? 500, code, (e as Error).message);
  }
}

/** How `newtos regroup` prints what moved. */
export function regroupLine(r: Answer): string {
  if (r.stopped === 0) return `already ${r.placement}: nothing moved`;
  const threads = (g: readonly (readonly string[])[]): string => g.map((t) => t.join('+')).join(' | ');
  return `${r.placement}: ${r.stopped} threads stopped, ${r.started} started in ${Math.round(r.durationMs)} ms, servers paused ${Math.round(r.pauseMs)} ms (${threads(r.from)} → ${threads(r.to)})`;
}

/** The client: `newtos regroup isolated|grouped --port PORT [--json]`; exit code. */
export async function runRegroup(args: string[], usage: (message: string) => never): Promise<number> {
  const { values, positionals } = parseArgs({
    args, strict: true, allowPositionals: true, options: { port: { type: 'string' }, json: { type: 'boolean' } },
  });
  if (positionals.length !== 1 || !(PLACEMENTS as readonly string[]).includes(positionals[0]!)) {
    usage(`regroup needs one placement, ${PLACEMENTS.join(' or ')}${positionals.length === 1 ? `, not '${positionals[0]!}'` : ''}`);
  }
  const portText = values.port ?? '';
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) usage(`--port must name the stats port of a running \`newtos up\` (1 to 65535), not '${portText}'`);
  const body = await postControl<Answer>(port, `/regroup?${new URLSearchParams({ placement: positionals[0]! }).toString()}`, 60_000);
  process.stdout.write(values.json === true ? `${JSON.stringify(body)}\n` : `${regroupLine(body)}\n`);
  return 0;
}
