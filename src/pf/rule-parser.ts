/**
 * The text form of packet-filter rule sets (see docs/pf-rules.md), in the
 * spirit of pf.conf and nftables. One statement per line; '#' starts a comment.
 *
 *   ruleset   = { line "\n" }
 *   line      = [ statement ] [ "#" any-text ]
 *   statement = "default" ( "allow" | "drop" )
 *             | action [ "in" | "out" ] [ "on" IFNAME ] [ "proto" PROTO ]
 *               [ "from" ADDR [ "port" PORTS ] ] [ "to" ADDR [ "port" PORTS ] ]
 *               [ "flags" FLAGS "/" FLAGS ] [ "icmp-type" ICMPTYPE [ "code" N ] ]
 *               [ "keep" "state" ]
 *   action    = "allow" | "drop" | "reject" [ "with" REJECT ]
 *   REJECT    = "port-unreachable" | "host-unreachable" | "net-unreachable"
 *             | "admin-prohibited" | 0..15
 *   PROTO     = "tcp" | "udp" | "icmp" | 0..255
 *   ADDR      = "any" | [ "!" ] A.B.C.D [ "/" 0..32 ]
 *   PORTS     = PORT { "," PORT }        (no spaces)     PORT = N | N "-" N, 0..65535
 *   FLAGS     = letters of F S R P A U E W (FIN SYN RST PSH ACK URG ECE CWR); "flags S/SA"
 *               matches when, of S and A, only S is set; the mask may be "any" (= all)
 *   ICMPTYPE  = "echo-request" | "echo-reply" | "dest-unreachable" | "time-exceeded"
 *             | "parameter-problem" | 0..255
 *
 * Clauses appear in the order shown. Ports need proto tcp or udp, flags need
 * proto tcp, icmp-type needs proto icmp, keep state needs allow. The parser
 * never stops at the first error: it reports every bad line with its number,
 * the column of the offending word and the reason.
 */
import { parseIpv4Cidr } from '../wire/ipv4-address.js';
import { IcmpType, UnreachableCode } from '../wire/icmp.js';
import { TCP_FLAG_LETTERS, type AddressMatch, type PortRange, type Rule, type RuleAction, type RuleSet } from './rules.js';
import type { Direction } from '../abi/verdict.js';

export interface RuleParseError {
  readonly line: number;
  readonly column: number;
  readonly reason: string;
}

export type RuleSetParseResult =
  | { readonly ok: true; readonly value: RuleSet }
  | { readonly ok: false; readonly errors: readonly RuleParseError[] };

const PROTOCOLS: Readonly<Record<string, number>> = { icmp: 1, tcp: 6, udp: 17 };
const ICMP_TYPES: Readonly<Record<string, number>> = {
  'echo-request': IcmpType.EchoRequest, 'echo-reply': IcmpType.EchoReply, 'dest-unreachable': IcmpType.DestUnreachable,
  'time-exceeded': IcmpType.TimeExceeded, 'parameter-problem': IcmpType.ParameterProblem,
};
const REJECT_CODES: Readonly<Record<string, number>> = {
  'port-unreachable': UnreachableCode.Port, 'host-unreachable': UnreachableCode.Host, 'net-unreachable': UnreachableCode.Net,
  'admin-prohibited': UnreachableCode.AdminProhibited,
};

interface Token { readonly text: string; readonly column: number }

class LineError extends Error {
  constructor(readonly column: number, readonly reason: string) { super(reason); }
}

function tokenize(line: string): Token[] {
  const tokens: Token[] = [];
  const re = /\S+/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) !== null) tokens.push({ text: m[0], column: m.index + 1 });
  return tokens;
}

function parseIntIn(text: string, min: number, max: number): number | null {
  if (!/^[0-9]{1,5}$/.test(text)) return null;
  const n = Number(text);
  return n >= min && n <= max ? n : null;
}

/** Parse a whole rule set; every error is reported. */
export function parseRuleSet(text: string): RuleSetParseResult {
  const errors: RuleParseError[] = [];
  const rules: Rule[] = [];
  let defaultAction: 'allow' | 'drop' = 'drop';
  let defaultLine = 0;
  text.split(/\r?\n/).forEach((raw, i) => {
    const lineNo = i + 1;
    const hash = raw.indexOf('#');
    const tokens = tokenize(hash >= 0 ? raw.slice(0, hash) : raw);
    if (tokens.length === 0) return;
    try {
      if (tokens[0]!.text === 'default') {
        const t = tokens[1];
        if (t === undefined) throw new LineError(tokens[0]!.column, "'default' needs 'allow' or 'drop'");
        if (t.text !== 'allow' && t.text !== 'drop') throw new LineError(t.column, `default policy must be 'allow' or 'drop', not '${t.text}'`);
        if (tokens[2] !== undefined) throw new LineError(tokens[2].column, `unexpected '${tokens[2].text}' after default policy`);
        if (defaultLine !== 0) throw new LineError(tokens[0]!.column, `default policy already set on line ${defaultLine}`);
        defaultAction = t.text;
        defaultLine = lineNo;
        return;
      }
      rules.push(parseRule(tokens, lineNo));
    } catch (e) {
      if (!(e instanceof LineError)) throw e;
      errors.push({ line: lineNo, column: e.column, reason: e.reason });
    }
  });
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, value: { defaultAction, rules } };
}

function parseRule(tokens: Token[], line: number): Rule {
  let i = 0;
  const peek = (): Token | undefined => tokens[i];
  const take = (what: string): Token => {
    const t = tokens[i];
    if (t === undefined) {
      const last = tokens[tokens.length - 1]!;
      throw new LineError(last.column + last.text.length, `expected ${what} at end of line`);
    }
    i++;
    return t;
  };
  const first = take('an action');
  if (first.text !== 'allow' && first.text !== 'drop' && first.text !== 'reject') {
    throw new LineError(first.column, `expected 'allow', 'drop', 'reject' or 'default', not '${first.text}'`);
  }
  const action = first.text as RuleAction;
  let rejectCode: number = UnreachableCode.Port;
  if (peek()?.text === 'with') {
    const w = take("'with'");
    if (action !== 'reject') throw new LineError(w.column, "'with' only follows 'reject'");
    const c = take('a reject code');
    const code = REJECT_CODES[c.text] ?? parseIntIn(c.text, 0, 15);
    if (code === null || code === undefined) throw new LineError(c.column, `unknown reject code '${c.text}'`);
    rejectCode = code;
  }
  let direction: Direction | null = null;
  if (peek()?.text === 'in' || peek()?.text === 'out') direction = take('direction').text as Direction;
  let iface: string | null = null;
  if (peek()?.text === 'on') {
    take("'on'");
    const t = take('an interface name');
    if (!/^[A-Za-z0-9_.:-]{1,32}$/.test(t.text)) throw new LineError(t.column, `bad interface name '${t.text}'`);
    iface = t.text;
  }
  let protocol: number | null = null;
  let protoTok: Token | null = null;
  if (peek()?.text === 'proto') {
    take("'proto'");
    protoTok = take('a protocol');
    const p = PROTOCOLS[protoTok.text] ?? parseIntIn(protoTok.text, 0, 255);
    if (p === null || p === undefined) throw new LineError(protoTok.column, `unknown protocol '${protoTok.text}'`);
    protocol = p;
  }
  const needProto = (t: Token, what: string, allowed: number[]): void => {
    if (protocol === null || !allowed.includes(protocol)) {
      throw new LineError(t.column, `'${what}' needs proto ${allowed.map((n) => Object.keys(PROTOCOLS).find((k) => PROTOCOLS[k] === n)).join(' or ')}`);
    }
  };
  let src: AddressMatch | null = null; let srcPorts: PortRange[] | null = null;
  let dst: AddressMatch | null = null; let dstPorts: PortRange[] | null = null;
  for (const side of ['from', 'to'] as const) {
    if (peek()?.text !== side) continue;
    take(`'${side}'`);
    const addr = parseAddress(take('an address'));
    let ports: PortRange[] | null = null;
    if (peek()?.text === 'port') {
      const pt = take("'port'");
      needProto(pt, 'port', [6, 17]);
      ports = parsePorts(take('ports'));
    }
    if (side === 'from') { src = addr; srcPorts = ports; } else { dst = addr; dstPorts = ports; }
  }
  let tcpFlags: { set: number; mask: number } | null = null;
  if (peek()?.text === 'flags') {
    const ft = take("'flags'");
    needProto(ft, 'flags', [6]);
    tcpFlags = parseFlags(take('flags like S/SA'));
  }
  let icmpType: number | null = null; let icmpCode: number | null = null;
  if (peek()?.text === 'icmp-type') {
    const it = take("'icmp-type'");
    needProto(it, 'icmp-type', [1]);
    const t = take('an ICMP type');
    const v = ICMP_TYPES[t.text] ?? parseIntIn(t.text, 0, 255);
    if (v === null || v === undefined) throw new LineError(t.column, `unknown ICMP type '${t.text}'`);
    icmpType = v;
    if (peek()?.text === 'code') {
      take("'code'");
      const c = take('an ICMP code');
      icmpCode = parseIntIn(c.text, 0, 255);
      if (icmpCode === null) throw new LineError(c.column, `bad ICMP code '${c.text}'`);
    }
  }
  let keepState = false;
  if (peek()?.text === 'keep') {
    const k = take("'keep'");
    const s = take("'state'");
    if (s.text !== 'state') throw new LineError(s.column, `expected 'state' after 'keep', not '${s.text}'`);
    if (action !== 'allow') throw new LineError(k.column, "'keep state' only makes sense with 'allow'");
    keepState = true;
  }
  const extra = peek();
  if (extra !== undefined) throw new LineError(extra.column, `unexpected '${extra.text}' (clauses go in the documented order)`);
  return { action, direction, iface, protocol, src, srcPorts, dst, dstPorts, tcpFlags, icmpType, icmpCode, keepState, rejectCode, line };
}

function parseAddress(t: Token): AddressMatch | null {
  if (t.text === 'any') return null;
  const negate = t.text.startsWith('!');
  const c = parseIpv4Cidr(negate ? t.text.slice(1) : t.text);
  if (c === null) throw new LineError(t.column, `bad address '${t.text}' (want any, A.B.C.D or A.B.C.D/N)`);
  return { address: c.address, prefixLen: c.prefixLen, negate };
}

function parsePorts(t: Token): PortRange[] {
  const ranges: PortRange[] = [];
  for (const part of t.text.split(',')) {
    const m = /^([0-9]+)(?:-([0-9]+))?$/.exec(part);
    const from = m === null ? null : parseIntIn(m[1]!, 0, 65535);
    const to = m === null ? null : m[2] === undefined ? from : parseIntIn(m[2], 0, 65535);
    if (from === null || to === null) throw new LineError(t.column, `bad port '${part}' (want N or N-M, 0..65535)`);
    if (to < from) throw new LineError(t.column, `empty port range '${part}'`);
    ranges.push({ from, to });
  }
  return ranges;
}

function parseFlags(t: Token): { set: number; mask: number } {
  const m = /^([A-Za-z]*)\/([A-Za-z]+)$/.exec(t.text);
  if (m === null) throw new LineError(t.column, `bad flags '${t.text}' (want e.g. S/SA)`);
  const letters = (s: string): number => {
    let v = 0;
    for (const ch of s) {
      const bit = TCP_FLAG_LETTERS[ch];
      if (bit === undefined) throw new LineError(t.column, `unknown TCP flag '${ch}' (use F S R P A U E W)`);
      v |= bit;
    }
    return v;
  };
  const set = letters(m[1]!);
  const mask = m[2] === 'any' ? 0xff : letters(m[2]!);
  if ((set & ~mask) !== 0) throw new LineError(t.column, `flags '${m[1]}' are not all in mask '${m[2]}'`);
  return { set, mask };
}

/** The text form of a rule set; parseRuleSet(formatRuleSet(r)) gives r back (line numbers aside). */
export function formatRuleSet(rs: RuleSet): string {
  const lines = [`default ${rs.defaultAction}`];
  const protoName = (p: number): string => Object.keys(PROTOCOLS).find((k) => PROTOCOLS[k] === p) ?? String(p);
  const addr = (a: AddressMatch | null): string => {
    if (a === null) return 'any';
    const ip = `${a.address >>> 24}.${(a.address >>> 16) & 0xff}.${(a.address >>> 8) & 0xff}.${a.address & 0xff}`;
    return `${a.negate ? '!' : ''}${ip}/${a.prefixLen}`;
  };
  const ports = (p: readonly PortRange[]): string => p.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`)).join(',');
  const flags = (v: number): string => Object.keys(TCP_FLAG_LETTERS).filter((k) => (v & TCP_FLAG_LETTERS[k]!) !== 0).join('');
  for (const r of rs.rules) {
    const w: string[] = [r.action];
    if (r.action === 'reject') w.push('with', String(r.rejectCode));
    if (r.direction !== null) w.push(r.direction);
    if (r.iface !== null) w.push('on', r.iface);
    if (r.protocol !== null) w.push('proto', protoName(r.protocol));
    if (r.src !== null || r.srcPorts !== null) { w.push('from', addr(r.src)); if (r.srcPorts !== null) w.push('port', ports(r.srcPorts)); }
    if (r.dst !== null || r.dstPorts !== null) { w.push('to', addr(r.dst)); if (r.dstPorts !== null) w.push('port', ports(r.dstPorts)); }
    if (r.tcpFlags !== null) w.push('flags', `${flags(r.tcpFlags.set)}/${flags(r.tcpFlags.mask)}`);
    if (r.icmpType !== null) { w.push('icmp-type', String(r.icmpType)); if (r.icmpCode !== null) w.push('code', String(r.icmpCode)); }
    if (r.keepState) w.push('keep', 'state');
    lines.push(w.join(' '));
  }
  return lines.join('\n') + '\n';
}
