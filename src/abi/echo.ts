/**
 * The ping ABI between the application and the IP server: how an echo request
 * ended (IP_MSG.ECHO_RESULT) and which local send errors it reports, by index.
 * The echo client itself (src/ip/echo-client.ts) runs inside the IP server.
 */
import { ICMP_HEADER_LEN } from '../wire/icmp.js';
import { IPV4_MAX_PACKET_LEN, IPV4_MIN_HEADER_LEN } from '../wire/ipv4.js';

/** Largest echo data: a 65535-byte IPv4 packet minus the IP and ICMP headers. */
export const ECHO_MAX_DATA = IPV4_MAX_PACKET_LEN - IPV4_MIN_HEADER_LEN - ICMP_HEADER_LEN;

/** How a request ended, as reported to the application (IP_MSG.ECHO_RESULT a1). */
export const EchoStatus = {
  /** An echo reply with the data we sent. */
  Reply: 0,
  /** An echo reply whose data differs from what we sent. */
  ReplyBadData: 1,
  /** An ICMP error about the request (destination unreachable, time exceeded, ...). */
  IcmpError: 2,
  /** It could not be sent (no route, ARP unresolved, filtered, too many outstanding). */
  SendFailed: 3,
} as const;
export type EchoStatusCode = (typeof EchoStatus)[keyof typeof EchoStatus];

/** Local send failures, by index (IP_MSG.ECHO_RESULT a2 for SendFailed). */
export const ECHO_SEND_ERRORS = ['EHOSTUNREACH', 'ENETUNREACH', 'EMSGSIZE', 'EPERM', 'ENOBUFS'] as const;
export type EchoSendError = (typeof ECHO_SEND_ERRORS)[number];
