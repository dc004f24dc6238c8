/**
 * Packet-filter rule sets as plain data (JSON-serialisable, so they live in
 * the supervisor's data store and are reloaded after a restart). The text
 * form is parsed by rule-parser.ts and documented in docs/pf-rules.md.
 *
 * Semantics: the state table is consulted first (replies and continuations of
 * connections a `keep state` rule admitted, and ICMP errors about them); then
 * rules are tried in order and the FIRST match decides (nftables/iptables
 * style, not pf's last-match). No match: `defaultAction`.
 */
import { TcpFlag } from '../wire/tcp.js';
import type { Direction } from '../abi/verdict.js';

export type RuleAction = 'allow' | 'drop' | 'reject';

export interface AddressMatch {
  readonly address: number;
  readonly prefixLen: number;
  readonly negate: boolean;
}

/** Inclusive port range. */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

export interface Rule {
  readonly action: RuleAction;
  /** null matches both directions. */
  readonly direction: Direction | null;
  readonly iface: string | null;
  readonly protocol: number | null;
  readonly src: AddressMatch | null;
  readonly srcPorts: readonly PortRange[] | null;
  readonly dst: AddressMatch | null;
  readonly dstPorts: readonly PortRange[] | null;
  /** TCP flags: matches when (flags & mask) === set (pf's "flags S/SA"). */
  readonly tcpFlags: { readonly set: number; readonly mask: number } | null;
  readonly icmpType: number | null;
  readonly icmpCode: number | null;
  /** Create a state entry so replies (and related ICMP errors) pass. Only for allow. */
  readonly keepState: boolean;
  /** ICMP destination-unreachable code sent by reject for non-TCP packets (TCP gets a RST). */
  readonly rejectCode: number;
  /** Source line in the text form (0 when built in code). */
  readonly line: number;
}

export interface RuleSet {
  readonly defaultAction: 'allow' | 'drop';
  readonly rules: readonly Rule[];
}

export { TcpFlag };

/** pf's flag letters. */
export const TCP_FLAG_LETTERS: Readonly<Record<string, number>> = {
  F: TcpFlag.FIN, S: TcpFlag.SYN, R: TcpFlag.RST, P: TcpFlag.PSH, A: TcpFlag.ACK, U: TcpFlag.URG, E: TcpFlag.ECE, W: TcpFlag.CWR,
};

/** A rule matching everything, to build on in code. */
export function rule(partial: Partial<Rule> & Pick<Rule, 'action'>): Rule {
  return {
    direction: null, iface: null, protocol: null, src: null, srcPorts: null, dst: null, dstPorts: null,
    tcpFlags: null, icmpType: null, icmpCode: null, keepState: false, rejectCode: 3, line: 0, ...partial,
  };
}
