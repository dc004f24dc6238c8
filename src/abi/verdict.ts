/**
 * What the packet filter answers for one packet, and how the IP core asks.
 * Plain data: these cross the IP ⇄ PF channel.
 */

export type Direction = 'in' | 'out';

export type Verdict =
  | { readonly action: 'allow' }
  | { readonly action: 'drop' }
  /** Refuse visibly: TCP segments get a RST, everything else an ICMP unreachable with `icmpCode`. */
  | { readonly action: 'reject'; readonly icmpCode: number };

export const ALLOW: Verdict = { action: 'allow' };
export const DROP: Verdict = { action: 'drop' };

/** The IP core's question. `packet` is the whole IPv4 datagram (a view into IP's buffer). */
export interface VerdictRequest {
  readonly type: 'verdict-request';
  readonly id: number;
  readonly direction: Direction;
  readonly ifName: string;
  readonly packet: Uint8Array;
}
