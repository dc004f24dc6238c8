/**
 * The arguments of net.connect / socket.connect, as Node normalises them:
 * (options[, cb]), (port[, host][, cb]) or (path[, cb]), and what newtos does with
 * a host name: an IPv4 literal as it is, 'localhost' as 127.0.0.1 (the stack's own
 * loopback, as Node's default lookup gives it for IPv4), anything else through the
 * `lookup` option (Node's signature) or the stack's own lookup hook.
 */
import { isIPv4 } from 'node:net';
import { NewtosError } from '../errors.js';

/** Node's dns.lookup signature (the `lookup` option of net.connect). */
export type LookupFunction = (
  hostname: string,
  options: { family?: number; all?: boolean; hints?: number },
  callback: (err: NodeJS.ErrnoException | null, address: string | { address: string; family: number }[], family?: number) => void,
) => void;

export interface ConnectOptions {
  port?: number | string;
  host?: string;
  path?: string;
  localAddress?: string;
  localPort?: number;
  family?: number;
  allowHalfOpen?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  timeout?: number;
  signal?: AbortSignal;
  lookup?: LookupFunction;
}

/** Node's normalizeArgs for connect. */
export function normalizeConnectArgs(args: unknown[]): { options: ConnectOptions; cb: (() => void) | undefined } {
  const rest = [...args];
  const cb = typeof rest[rest.length - 1] === 'function' ? rest.pop() as () => void : undefined;
  const first = rest[0];
  if (typeof first === 'object' && first !== null) return { options: { ...(first as ConnectOptions) }, cb };
  if (typeof first === 'string' && !/^\d+$/.test(first)) return { options: { path: first }, cb };
  const options: ConnectOptions = { port: first as number | string };
  if (typeof rest[1] === 'string') options.host = rest[1];
  return { options, cb };
}

/** A getaddrinfo-style failure, as Node's dns.lookup reports one. */
export function notFound(hostname: string): NewtosError {
  const err = new NewtosError('ENOTFOUND', `getaddrinfo ENOTFOUND ${hostname}`) as NewtosError & { syscall: string; hostname: string; errno: number };
  err.syscall = 'getaddrinfo';
  err.hostname = hostname;
  err.errno = -3008; // EAI_NONAME, as Node reports it
  return err;
}

/**
 * An IPv4 address for `host`: at once for a literal or 'localhost', else through
 * `lookup` (or ENOTFOUND without one). Calls `done` exactly once.
 */
export function resolveHost(host: string, lookup: LookupFunction | undefined,
  done: (err: Error | null, address: string, looked: boolean) => void): void {
  if (isIPv4(host)) { done(null, host, false); return; }
  if (host === 'localhost' || host === '') { done(null, '127.0.0.1', false); return; }
  if (lookup === undefined) { queueMicrotask(() => done(notFound(host), '', true)); return; }
  let called = false;
  const once = (err: Error | null, address: string): void => {
    if (called) return;
    called = true;
    done(err, address, true);
  };
  try {
    lookup(host, { family: 4, all: false }, (err, address) => {
      if (err) { once(err, ''); return; }
      const picked = Array.isArray(address) ? address.find((a) => a.family === 4)?.address : address;
      if (picked === undefined || !isIPv4(picked)) { once(notFound(host), ''); return; }
      once(null, picked);
    });
  } catch (e) {
    once(e instanceof Error ? e : new Error(String(e)), '');
  }
}
