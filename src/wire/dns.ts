/**
 * DNS messages, RFC 1035 §4, as far as an A-record stub resolver needs them: encode a
 * query (one question, RD set), parse a response (header, question, answer records with
 * name compression, §4.1.4). Sans-IO: bytes in, plain values out; nothing here sends.
 *
 * Parsing never throws on hostile input: a malformed message is `{ ok: false, reason }`.
 * Compression pointers must point strictly backwards (so a loop cannot be followed) and
 * a name is at most 255 bytes (§3.1) with labels of at most 63 (§2.3.4).
 */

export const DNS_TYPE_A = 1;
export const DNS_TYPE_CNAME = 5;
export const DNS_CLASS_IN = 1;

/** RCODEs (RFC 1035 §4.1.1). */
export const RCODE_NOERROR = 0;
export const RCODE_FORMERR = 1;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;
export const RCODE_NOTIMP = 4;
export const RCODE_REFUSED = 5;

const HEADER_LEN = 12;
const FLAG_QR = 0x8000;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const MAX_NAME = 255;
const MAX_LABEL = 63;

export interface DnsRecord {
  /** Owner name, lower case, without the trailing dot. */
  readonly name: string;
  readonly type: number;
  readonly class: number;
  readonly ttl: number;
  /** A: the dotted quad; CNAME: the target name (lower case); other types: undefined. */
  readonly data: string | undefined;
}

export interface DnsResponse {
  readonly id: number;
  readonly rcode: number;
  /** TC: the answer did not fit the datagram (RFC 1035 §4.1.1); ask again over TCP. */
  readonly truncated: boolean;
  readonly question: { readonly name: string; readonly type: number; readonly class: number } | undefined;
  readonly answers: readonly DnsRecord[];
}

export type DnsParse = { readonly ok: true; readonly response: DnsResponse } | { readonly ok: false; readonly reason: string };

/** Why a name cannot be asked for, or undefined when it can. */
export function checkDnsName(name: string): string | undefined {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  if (n.length === 0) return 'is empty';
  const labels = n.split('.');
  let wire = 1;
  for (const l of labels) {
    if (l.length === 0) return 'has an empty label';
    if (l.length > MAX_LABEL) return `has a label longer than ${MAX_LABEL} bytes`;
    if (!/^[\x21-\x7e]+$/.test(l)) return 'has a character outside printable ASCII';
    wire += 1 + l.length;
  }
  return wire > MAX_NAME ? `is longer than ${MAX_NAME} bytes on the wire` : undefined;
}

/** A standard query for `name` (checked with checkDnsName first), recursion desired. */
export function encodeDnsQuery(id: number, name: string, type = DNS_TYPE_A): Uint8Array {
  const why = checkDnsName(name);
  if (why !== undefined) throw new RangeError(`DNS name '${name}' ${why}`);
  const labels = (name.endsWith('.') ? name.slice(0, -1) : name).split('.');
  const nameLen = labels.reduce((s, l) => s + 1 + l.length, 1);
  const out = new Uint8Array(HEADER_LEN + nameLen + 4);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, id & 0xffff);
  dv.setUint16(2, FLAG_RD);
  dv.setUint16(4, 1); // QDCOUNT
  let at = HEADER_LEN;
  for (const l of labels) {
    out[at++] = l.length;
    for (let i = 0; i < l.length; i++) out[at++] = l.charCodeAt(i);
  }
  out[at++] = 0;
  dv.setUint16(at, type);
  dv.setUint16(at + 2, DNS_CLASS_IN);
  return out;
}

/** Reads the (possibly compressed) name at `at`; returns it and the offset after it in place. */
function readName(msg: Uint8Array, at: number): { name: string; next: number } | string {
  const labels: string[] = [];
  let wire = 1;
  let next = -1;
  let pos = at;
  for (;;) {
    if (pos >= msg.length) return 'name runs past the end';
    const len = msg[pos]!;
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= msg.length) return 'name pointer runs past the end';
      const target = ((len & 0x3f) << 8) | msg[pos + 1]!;
      if (next < 0) next = pos + 2;
      // Strictly backwards: every hop moves towards the start, so no loop.
      if (target >= pos) return 'name pointer does not point backwards';
      pos = target;
      continue;
    }
    if ((len & 0xc0) !== 0) return 'reserved label type';
    if (len === 0) { pos++; break; }
    if (pos + 1 + len > msg.length) return 'label runs past the end';
    wire += 1 + len;
    if (wire > MAX_NAME) return 'name longer than 255 bytes';
    let label = '';
    for (let i = 0; i < len; i++) label += String.fromCharCode(msg[pos + 1 + i]!);
    labels.push(label.toLowerCase());
    pos += 1 + len;
  }
  return { name: labels.join('.'), next: next < 0 ? pos : next };
}

/** Parses a response message (RFC 1035 §4.1). Authority and additional sections are not read. */
export function parseDnsResponse(msg: Uint8Array): DnsParse {
  if (msg.length < HEADER_LEN) return { ok: false, reason: 'shorter than a DNS header' };
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const id = dv.getUint16(0);
  const flags = dv.getUint16(2);
  if ((flags & FLAG_QR) === 0) return { ok: false, reason: 'not a response (QR clear)' };
  const qd = dv.getUint16(4);
  const an = dv.getUint16(6);
  let at = HEADER_LEN;
  let question: DnsResponse['question'];
  for (let i = 0; i < qd; i++) {
    const n = readName(msg, at);
    if (typeof n === 'string') return { ok: false, reason: `question: ${n}` };
    if (n.next + 4 > msg.length) return { ok: false, reason: 'question runs past the end' };
    if (i === 0) question = { name: n.name, type: dv.getUint16(n.next), class: dv.getUint16(n.next + 2) };
    at = n.next + 4;
  }
  const truncated = (flags & FLAG_TC) !== 0;
  const answers: DnsRecord[] = [];
  for (let i = 0; i < an; i++) {
    const n = readName(msg, at);
    if (typeof n === 'string') {
      // A truncated message may end inside its answers: keep what was whole.
      if (truncated) break;
      return { ok: false, reason: `answer ${i}: ${n}` };
    }
    if (n.next + 10 > msg.length) { if (truncated) break; return { ok: false, reason: `answer ${i} runs past the end` }; }
    const type = dv.getUint16(n.next);
    const cls = dv.getUint16(n.next + 2);
    const ttl = dv.getUint32(n.next + 4);
    const rdlen = dv.getUint16(n.next + 8);
    const rdata = n.next + 10;
    if (rdata + rdlen > msg.length) { if (truncated) break; return { ok: false, reason: `answer ${i}: data runs past the end` }; }
    let data: string | undefined;
    if (type === DNS_TYPE_A && cls === DNS_CLASS_IN) {
      if (rdlen !== 4) return { ok: false, reason: `answer ${i}: A record of ${rdlen} bytes` };
      data = `${msg[rdata]}.${msg[rdata + 1]}.${msg[rdata + 2]}.${msg[rdata + 3]}`;
    } else if (type === DNS_TYPE_CNAME) {
      const t = readName(msg, rdata);
      if (typeof t === 'string') return { ok: false, reason: `answer ${i}: CNAME ${t}` };
      if (t.next > rdata + rdlen) return { ok: false, reason: `answer ${i}: CNAME runs past its data` };
      data = t.name;
    }
    answers.push({ name: n.name, type, class: cls, ttl, data });
    at = rdata + rdlen;
  }
  return { ok: true, response: { id, rcode: flags & 0xf, truncated, question, answers } };
}

/**
 * The A addresses for `name` in `answers`, following CNAMEs within them (at most `maxChain`).
 * `target` is the name the chain ends at: the caller asks for it when `addresses` is empty
 * and it differs from `name` (the server gave the CNAME but not its target's records).
 */
export function addressesFor(answers: readonly DnsRecord[], name: string, maxChain = 8): { addresses: string[]; target: string; loop: boolean } {
  let current = normalizeName(name);
  for (let hop = 0; ; hop++) {
    const addrs = answers.filter((r) => r.type === DNS_TYPE_A && r.name === current && r.data !== undefined).map((r) => r.data!);
    if (addrs.length > 0) return { addresses: addrs, target: current, loop: false };
    const cname = answers.find((r) => r.type === DNS_TYPE_CNAME && r.name === current && r.data !== undefined);
    if (cname === undefined) return { addresses: [], target: current, loop: false };
    if (hop >= maxChain) return { addresses: [], target: current, loop: true };
    current = cname.data!;
  }
}

/** Lower case without the trailing dot, as names are compared (RFC 1035 §2.3.3). */
export function normalizeName(name: string): string {
  return (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase();
}
