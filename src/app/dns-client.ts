/**
 * A stub resolver for A records over the stack's own UDP (and TCP when an answer is
 * truncated), RFC 1035 with the wire format of src/wire/dns.ts. Resolvers come from the
 * configuration (`dns.resolvers`); a query goes to each in turn, `attempts` rounds, each
 * waited for `timeoutMs`.
 *
 * Each query uses a fresh UDP socket connected to the resolver (a random source port,
 * and only the resolver's datagrams are delivered: RFC 5452 §9.2) and a random ID; a reply
 * counts only when its ID and question match. A truncated reply (TC) is asked again over
 * TCP with the two-byte length prefix (RFC 1035 §4.2.2, RFC 7766). CNAME chains are
 * followed within the answer, and by asking again for the chain's end when the server
 * gave only the CNAME (at most 8 hops). Nothing is cached.
 *
 * Errors are Node's dns module's: `resolve4` rejects with `code` ENOTFOUND (NXDOMAIN),
 * ENODATA (no A record), ETIMEOUT, ESERVFAIL, EREFUSED, EFORMERR, ENOTIMP, EBADRESP,
 * ECONNREFUSED (every resolver answered with ICMP port unreachable), EBADNAME, with
 * `syscall` 'queryA' and `hostname`. `lookup` (dns.lookup's signature, the stack's lookup
 * hook) reports them with `syscall` 'getaddrinfo', and ENODATA as ENOTFOUND, as
 * getaddrinfo does.
 */
import { isIPv4 } from 'node:net';
import { NewtosError } from '../errors.js';
import {
  DNS_TYPE_A, RCODE_FORMERR, RCODE_NOERROR, RCODE_NOTIMP, RCODE_NXDOMAIN, RCODE_REFUSED, RCODE_SERVFAIL,
  addressesFor, checkDnsName, encodeDnsQuery, normalizeName, parseDnsResponse, type DnsResponse,
} from '../wire/dns.js';
import type { DgramSocket } from './dgram-socket.js';
import type { NetSocket } from './net-socket.js';
import type { LookupFunction } from './connect-options.js';

export interface DnsResolverAddress {
  readonly host: string;
  readonly port: number;
}

export interface DnsClientOptions {
  readonly resolvers: readonly DnsResolverAddress[];
  /** How long one query to one resolver is waited for (default 2000 ms). */
  readonly timeoutMs?: number;
  /** Rounds over all resolvers (default 2). */
  readonly attempts?: number;
}

export interface DnsClientDeps {
  readonly createUdpSocket: () => DgramSocket;
  readonly connectTcp: (options: { host: string; port: number }) => NetSocket;
  /** A random 16-bit query ID (RFC 5452: unpredictable). */
  readonly randomId: () => number;
}

const MAX_CNAME_HOPS = 8;

type DnsError = NewtosError & { syscall: string; hostname: string; errno?: number };

function dnsError(code: string, syscall: string, hostname: string, detail?: string): DnsError {
  const err = new NewtosError(code, `${syscall} ${code} ${hostname}${detail !== undefined ? ` (${detail})` : ''}`) as DnsError;
  err.syscall = syscall;
  err.hostname = hostname;
  return err;
}

const RCODE_ERRORS: Readonly<Record<number, string>> = {
  [RCODE_FORMERR]: 'EFORMERR', [RCODE_SERVFAIL]: 'ESERVFAIL', [RCODE_NXDOMAIN]: 'ENOTFOUND',
  [RCODE_NOTIMP]: 'ENOTIMP', [RCODE_REFUSED]: 'EREFUSED',
};

/** One resolver's answer to one question, or why there is none. */
type Exchange = { response: DnsResponse } | { failure: 'timeout' | 'refused' | 'bad' };

export class DnsClient {
  readonly resolvers: readonly DnsResolverAddress[];
  private readonly timeoutMs: number;
  private readonly attempts: number;

  constructor(private readonly deps: DnsClientDeps, options: DnsClientOptions) {
    this.resolvers = options.resolvers.map((r) => ({ ...r }));
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.attempts = options.attempts ?? 2;
  }

  /** The A addresses of `hostname` (dns.promises.resolve4). */
  async resolve4(hostname: string): Promise<string[]> {
    if (typeof hostname !== 'string') {
      throw new NewtosError('ERR_INVALID_ARG_TYPE', `The "hostname" argument must be of type string. Received ${hostname === null ? 'null' : typeof hostname}`);
    }
    if (checkDnsName(hostname) !== undefined) throw dnsError('EBADNAME', 'queryA', hostname, `the name ${checkDnsName(hostname)!}`);
    if (this.resolvers.length === 0) throw dnsError('ENOTFOUND', 'queryA', hostname, 'no resolvers configured (dns.resolvers)');
    let name = normalizeName(hostname);
    for (let hop = 0; hop <= MAX_CNAME_HOPS; hop++) {
      const response = await this.query(name, hostname);
      const code = RCODE_ERRORS[response.rcode];
      if (code !== undefined) throw dnsError(code, 'queryA', hostname);
      if (response.rcode !== RCODE_NOERROR) throw dnsError('EBADRESP', 'queryA', hostname, `rcode ${response.rcode}`);
      const found = addressesFor(response.answers, name, MAX_CNAME_HOPS - hop);
      if (found.addresses.length > 0) return found.addresses;
      if (found.loop) break;
      if (found.target === name) throw dnsError('ENODATA', 'queryA', hostname);
      name = found.target; // the server gave the CNAME only: ask for its target
    }
    throw dnsError('EBADRESP', 'queryA', hostname, `CNAME chain longer than ${MAX_CNAME_HOPS}`);
  }

  /** dns.lookup's signature, IPv4 only: the stack's lookup hook. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    const all = typeof options === 'object' && options !== null && options.all === true;
    if (isIPv4(hostname)) { queueMicrotask(() => all ? callback(null, [{ address: hostname, family: 4 }]) : callback(null, hostname, 4)); return; }
    this.resolve4(hostname).then(
      (addresses) => all ? callback(null, addresses.map((address) => ({ address, family: 4 }))) : callback(null, addresses[0]!, 4),
      (e: unknown) => {
        const err = e as DnsError;
        if (err.syscall === 'queryA') {
          err.syscall = 'getaddrinfo';
          if (err.code === 'ENODATA') (err as { code: string }).code = 'ENOTFOUND';
          err.message = err.message.replace(/^queryA E[A-Z]+/, `getaddrinfo ${err.code}`);
          if (err.code === 'ENOTFOUND') err.errno = -3008; // EAI_NONAME, as Node reports it
        }
        callback(err, '', 4);
      },
    );
  };

  /** Asks every resolver in turn, `attempts` rounds, until one answers. */
  private async query(name: string, hostname: string): Promise<DnsResponse> {
    let refused = 0;
    let bad = 0;
    for (let round = 0; round < this.attempts; round++) {
      for (const resolver of this.resolvers) {
        const id = this.deps.randomId() & 0xffff;
        const query = encodeDnsQuery(id, name, DNS_TYPE_A);
        let r = await this.overUdp(resolver, query, id, name);
        if ('response' in r && r.response.truncated) r = await this.overTcp(resolver, query, id, name);
        if ('response' in r) return r.response;
        if (r.failure === 'refused') refused++;
        if (r.failure === 'bad') bad++;
      }
    }
    const total = this.attempts * this.resolvers.length;
    if (refused === total) throw dnsError('ECONNREFUSED', 'queryA', hostname);
    if (bad > 0 && bad + refused === total) throw dnsError('EBADRESP', 'queryA', hostname);
    throw dnsError('ETIMEOUT', 'queryA', hostname);
  }

  /** Is `msg` the reply to our question? */
  private static matches(msg: Uint8Array, id: number, name: string): { response: DnsResponse } | 'other' | 'bad' {
    const p = parseDnsResponse(msg);
    if (!p.ok) return msg.length >= 2 && ((msg[0]! << 8) | msg[1]!) === id ? 'bad' : 'other';
    const q = p.response.question;
    if (p.response.id !== id || q === undefined || q.name !== name || q.type !== DNS_TYPE_A) return 'other';
    return { response: p.response };
  }

  private overUdp(resolver: DnsResolverAddress, query: Uint8Array, id: number, name: string): Promise<Exchange> {
    return new Promise((resolve) => {
      const socket = this.deps.createUdpSocket();
      let done = false;
      const finish = (r: Exchange): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.close();
        resolve(r);
      };
      const timer = setTimeout(() => finish({ failure: 'timeout' }), this.timeoutMs);
      socket.on('error', (e: Error & { code?: string }) => finish({ failure: e.code === 'ECONNREFUSED' ? 'refused' : 'timeout' }));
      socket.on('message', (msg: Buffer) => {
        const m = DnsClient.matches(msg, id, name);
        if (m === 'other') return; // not ours (an old reply, a spoof): keep waiting
        finish(m === 'bad' ? { failure: 'bad' } : m);
      });
      socket.connect(resolver.port, resolver.host, () => {
        socket.send(query, (err) => { if (err) finish({ failure: 'timeout' }); });
      });
    });
  }

  private overTcp(resolver: DnsResolverAddress, query: Uint8Array, id: number, name: string): Promise<Exchange> {
    return new Promise((resolve) => {
      const socket = this.deps.connectTcp({ host: resolver.host, port: resolver.port });
      let done = false;
      let got = Buffer.alloc(0);
      const finish = (r: Exchange): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.destroy();
        resolve(r);
      };
      const timer = setTimeout(() => finish({ failure: 'timeout' }), this.timeoutMs);
      socket.on('error', (e: Error & { code?: string }) => finish({ failure: e.code === 'ECONNREFUSED' ? 'refused' : 'timeout' }));
      socket.on('connect', () => {
        const framed = Buffer.alloc(2 + query.length);
        framed.writeUInt16BE(query.length, 0);
        framed.set(query, 2);
        socket.write(framed);
      });
      socket.on('data', (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        if (got.length < 2 || got.length < 2 + got.readUInt16BE(0)) return;
        const m = DnsClient.matches(got.subarray(2, 2 + got.readUInt16BE(0)), id, name);
        finish(m === 'other' || m === 'bad' ? { failure: 'bad' } : m);
      });
      socket.on('end', () => finish({ failure: 'bad' }));
    });
  }
}
