/**
 * How `newtos stats` and `newtos capture` reach a running `newtos up` on its
 * control port (`--stats-port`, loopback): fetch, with the failures a user
 * meets (nothing listening, no answer) turned into
 * one clear error line instead of fetch's "TypeError: fetch failed".
 */
import { NewtosError } from '../errors.js';

/** Why a connection failed, in words, by the OS error code fetch's cause carries. */
const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is `newtos up --stats-port PORT` running?)',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'timed out',
  UND_ERR_SOCKET: 'the connection closed before an answer',
};

/** GET (or `method`) http://127.0.0.1:PORT/PATH; rejects with a NewtosError naming the address and the reason. */
export async function fetchControl(port: number, path: string, signal?: AbortSignal, method = 'GET'): Promise<Response> {
  const where = `127.0.0.1:${port}`;
  let res: Response;
  try {
    res = await fetch(`http://${where}${path}`, { method, ...(signal === undefined ? {} : { signal }) });
  } catch (e) {
    if (signal?.aborted === true && signal.reason instanceof Error && signal.reason.name === 'TimeoutError') {
      throw new NewtosError('ETIMEDOUT', `cannot reach a newtos host on ${where}: no answer in time`);
    }
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const code = cause?.code ?? (e as { code?: string }).code ?? 'ECONNREFUSED';
    throw new NewtosError(code, `cannot reach a newtos host on ${where}: ${REASONS[code] ?? cause?.message ?? (e as Error).message}`, { cause: e });
  }
  return res;
}

/**
 * POST http://127.0.0.1:PORT/PATH to a host's control endpoint that answers JSON (inject,
 * regroup): the body, or a NewtosError with the code and message of the host's
 * `{ error: { code, message } }`, or one saying the port is not a newtos host's.
 */
export async function postControl<T>(port: number, path: string, timeoutMs: number): Promise<T> {
  const res = await fetchControl(port, path, AbortSignal.timeout(timeoutMs), 'POST');
  const text = await res.text();
  let body: { error?: { code: string; message: string } };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new NewtosError('ERR_NEWTOS_CONTROL', `127.0.0.1:${port} answered ${res.status} ${res.statusText}, not a newtos host's control port`);
  }
  if (body.error !== undefined) throw new NewtosError(body.error.code, body.error.message);
  return body as T;
}
