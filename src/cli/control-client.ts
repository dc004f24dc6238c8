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
