/**
 * IP statistics as text: lines for `newtos stats` and Prometheus metrics for
 * `/metrics`, read from what the IP server publishes to its counter block
 * (the core's IpCounters, src/ip/ip-types.ts, with the server's own counters
 * and gauges under `server` and the ping client's under `echo`): shared
 * memory, no message to the server. With replicas, Stack.counters().ip is the
 * sum over the replicas' IP servers, as TCP's figures are (no `replica` label;
 * Stack.replicaCounters(r) has one replica's); an ARP frame, which the driver
 * copies to every replica, counts once per replica in frames and ARP.
 *
 * The tables are typed by the counters' names, so a counter added without a
 * metric does not compile; a drop family's reasons come from its reason list
 * (IP_DROP_REASONS, ...), so a new reason shows up by itself.
 */
import {
  FRAME_DROP_REASONS, IP_DROP_REASONS, RELEASE_REASONS, TX_DROP_REASONS, type IpCounters,
} from '../ip/ip-types.js';
import type { IpServerCounters, IpServerGauges } from '../ip/server.js';
import type { EchoCounters } from '../ip/echo-client.js';
import type { PmtuCounters } from '../ip/pmtu-cache.js';
import type { CounterTree } from '../abi/published-counters.js';
import { type CounterMetric, type MetricWriter, num, sub, writeCounters } from './transport-stats-text.js';

type NumberKeys<T> = { [K in keyof T]: T[K] extends number ? K : never }[keyof T];
type RecordKeys<T> = { [K in keyof T]: T[K] extends Record<string, number> ? K : never }[keyof T];

const packets = 'IPv4 packets received from the driver (one per frame carrying IPv4) and originated by this host (local sends, before fragmentation).';
const frames = 'Ethernet frames IP took from the driver and handed to it (ARP included).';

export const IP_COUNTER_METRICS: Record<NumberKeys<IpCounters>, CounterMetric> = {
  rxFrames: { name: 'newtos_ip_frames_total', help: frames, labels: { direction: 'in' } },
  txFrames: { name: 'newtos_ip_frames_total', help: frames, labels: { direction: 'out' } },
  rxArp: { name: 'newtos_ip_arp_received_total', help: 'ARP packets received and handled.' },
  rxPackets: { name: 'newtos_ip_packets_total', help: packets, labels: { direction: 'in' } },
  txPackets: { name: 'newtos_ip_packets_total', help: packets, labels: { direction: 'out' } },
  delivered: { name: 'newtos_ip_delivered_total', help: 'Datagrams delivered to a local transport or handled as ICMP.' },
  forwarded: { name: 'newtos_ip_forwarded_total', help: 'Datagrams forwarded to another interface (with forwarding on).' },
  fragmentsHeld: { name: 'newtos_ip_reassembly_fragments_total', help: 'Fragments received and kept for reassembly.' },
  reassembled: { name: 'newtos_ip_reassembled_total', help: 'Datagrams reassembled from fragments.' },
  reassemblyTimeouts: { name: 'newtos_ip_reassembly_timeouts_total', help: 'Incomplete datagrams given up when their reassembly timer expired.' },
  loopback: { name: 'newtos_ip_loopback_total', help: 'Local sends to one of our own addresses, delivered without a link.' },
  txFragments: { name: 'newtos_ip_fragments_sent_total', help: 'Fragments made of datagrams larger than the path MTU.' },
  echoReplies: { name: 'newtos_ip_icmp_echo_replies_total', help: 'ICMP echo requests answered.' },
  icmpErrorsSent: { name: 'newtos_ip_icmp_errors_sent_total', help: 'ICMP errors sent.' },
  icmpErrorsRateLimited: { name: 'newtos_ip_icmp_errors_rate_limited_total', help: 'ICMP errors not sent because of the rate limit.' },
  icmpErrorsSuppressed: { name: 'newtos_ip_icmp_errors_suppressed_total', help: 'ICMP errors not sent because RFC 1122 forbids them (about an ICMP error, a broadcast, a non-first fragment, ...).' },
  verdictRequests: { name: 'newtos_ip_verdict_requests_total', help: 'Packets shown to the packet filter for a verdict.' },
  verdictUnknown: { name: 'newtos_ip_verdict_unknown_total', help: 'Verdicts for no pending request (late, after a timeout).' },
};

/** The drop families: the IpCounters record, its metric (with a `reason` label) and its reasons. */
export const IP_REASON_METRICS: Record<Exclude<RecordKeys<IpCounters>, 'pmtu'>, { readonly name: string; readonly help: string; readonly reasons: readonly string[] }> = {
  drops: { name: 'newtos_ip_drops_total', help: 'Received packets IP dropped, by reason.', reasons: IP_DROP_REASONS },
  txDrops: { name: 'newtos_ip_tx_drops_total', help: 'Packets IP could not send (local sends, forwarded and ICMP), by reason.', reasons: TX_DROP_REASONS },
  frameDrops: { name: 'newtos_ip_frame_drops_total', help: 'Received frames IP dropped before IP input (Ethernet, VLAN and ARP checks), by reason.', reasons: FRAME_DROP_REASONS },
  released: { name: 'newtos_ip_released_buffers_total', help: 'Callers\' buffers IP gave back without sending or delivering them, by reason (dropped, consumed, copied, ...).', reasons: RELEASE_REASONS },
};

export const IP_PMTU_METRICS: Record<Exclude<keyof PmtuCounters, 'entries'>, CounterMetric> = {
  learned: { name: 'newtos_ip_pmtu_learned_total', help: 'ICMP reports that lowered (or made) a path MTU entry.' },
  ignored: { name: 'newtos_ip_pmtu_ignored_total', help: 'ICMP path MTU reports ignored (not below the current path MTU, or below 68).' },
  expired: { name: 'newtos_ip_pmtu_expired_total', help: 'Path MTU entries that expired (the interface MTU holds again).' },
};

export const IP_SERVER_METRICS: Record<keyof IpServerCounters, CounterMetric> = {
  privateCopies: { name: 'newtos_ip_private_copies_total', help: 'Bytes IP made (not in a pool buffer) copied into its own pool to pass them on.' },
  staleInputs: { name: 'newtos_ip_stale_inputs_total', help: 'Input messages whose buffer was no longer valid (its owner restarted).' },
  backlogged: { name: 'newtos_ip_backlogged_messages_total', help: 'Outputs that found their channel full and waited in the backlog.' },
  unknownMessages: { name: 'newtos_ip_unknown_messages_total', help: 'Messages of an unknown type the IP server ignored.' },
  badIcmpRequests: { name: 'newtos_ip_bad_icmp_error_requests_total', help: 'Requests from a transport for an ICMP error without a readable datagram or of a type IP does not send.' },
  echoResultsDropped: { name: 'newtos_ip_ping_results_dropped_total', help: 'Ping results dropped because the application\'s ring was full.' },
  loopbackEchoReplies: { name: 'newtos_ip_ping_loopback_replies_total', help: 'Pings of one of our own addresses answered without a link.' },
  verdictNoBuffer: { name: 'newtos_ip_verdict_no_buffer_total', help: 'Packets dropped because no pool buffer was free to show them to the packet filter.' },
  verdictsReasked: { name: 'newtos_ip_verdicts_reasked_total', help: 'Verdict requests asked again after a packet filter restart.' },
  txNoBuffer: { name: 'newtos_ip_tx_no_buffer_total', help: 'Frames dropped because no pool buffer was free to copy them into.' },
};

export const IP_SERVER_GAUGES: Record<keyof IpServerGauges, CounterMetric> = {
  held: { name: 'newtos_ip_held_buffers', help: 'Callers\' buffers IP keeps past their message now (waiting for ARP or a filter verdict).' },
  verdictCopies: { name: 'newtos_ip_verdict_copies', help: 'Copies of packets the packet filter is reading now.' },
  backlog: { name: 'newtos_ip_backlog_messages', help: 'Outputs waiting for room in their channel now.' },
  poolAvailable: { name: 'newtos_ip_pool_available_buffers', help: 'Free buffers in the IP server\'s pools now.', labels: { pool: 'ip' } },
  smallPoolAvailable: { name: 'newtos_ip_pool_available_buffers', help: 'Free buffers in the IP server\'s pools now.', labels: { pool: 'ipsmall' } },
  appBlocked: { name: 'newtos_ip_app_blocked', help: '1 while IP does not read the application\'s channel for want of pool buffers.' },
};

export const IP_PING_METRICS: Record<keyof EchoCounters, CounterMetric> = {
  requests: { name: 'newtos_ip_ping_requests_total', help: 'ICMP echo requests sent for stack.ping.' },
  replies: { name: 'newtos_ip_ping_replies_total', help: 'Echo replies that answered a stack.ping request.' },
  badData: { name: 'newtos_ip_ping_bad_data_total', help: 'Echo replies whose data differed from the request\'s.' },
  icmpErrors: { name: 'newtos_ip_ping_icmp_errors_total', help: 'ICMP errors about stack.ping requests.' },
  sendFailures: { name: 'newtos_ip_ping_send_failures_total', help: 'stack.ping requests that could not be sent.' },
  expired: { name: 'newtos_ip_ping_expired_total', help: 'stack.ping requests that timed out.' },
  unmatchedReplies: { name: 'newtos_ip_ping_unmatched_replies_total', help: 'Echo replies that matched no outstanding request (late, duplicate, someone else\'s).' },
};

/** IP metrics from the IP servers' published counters (Stack.counters().ip). */
export function ipPrometheus(write: MetricWriter, host: string, ip: CounterTree): void {
  writeCounters(write, host, IP_COUNTER_METRICS, (k) => num(ip, k));
  for (const [key, f] of Object.entries(IP_REASON_METRICS)) {
    const byReason = sub(ip, key);
    write(f.name, f.help, 'counter', f.reasons.map((reason) => [{ host, reason }, num(byReason, reason)]));
  }
  const pmtu = sub(ip, 'pmtu');
  write('newtos_ip_pmtu_entries', 'Path MTU entries (destinations with a path MTU below their interface\'s) now.', 'gauge', [[{ host }, num(pmtu, 'entries')]]);
  writeCounters(write, host, IP_PMTU_METRICS, (k) => num(pmtu, k));
  const server = sub(ip, 'server');
  writeCounters(write, host, IP_SERVER_METRICS, (k) => num(server, k));
  writeCounters(write, host, IP_SERVER_GAUGES, (k) => num(server, k), 'gauge');
  writeCounters(write, host, IP_PING_METRICS, (k) => num(sub(ip, 'echo'), k));
}

/** The non-zero entries of a reason record as `reason n, ...`, or `none`. */
function nonZero(tree: CounterTree | undefined, reasons: readonly string[]): string {
  const s = reasons.filter((r) => num(tree, r) > 0).map((r) => `${r} ${num(tree, r)}`).join(', ');
  return s === '' ? 'none' : s;
}

/** Lines for `newtos stats`: packets and their fates, fragments, ICMP, buffers; drops by family (only the non-zero reasons). */
export function ipLines(host: string, ip: CounterTree): string {
  const n = (k: NumberKeys<IpCounters>): number => num(ip, k);
  const server = sub(ip, 'server');
  const pad = `${host.padEnd(10)} ip     `;
  return [
    `${pad} packets in ${n('rxPackets')} out ${n('txPackets')}  delivered ${n('delivered')} forwarded ${n('forwarded')} loopback ${n('loopback')}  `
      + `frames in ${n('rxFrames')} out ${n('txFrames')} (arp in ${n('rxArp')})  fragments out ${n('txFragments')} in ${n('fragmentsHeld')} `
      + `reassembled ${n('reassembled')} (timeouts ${n('reassemblyTimeouts')})`,
    `${pad} icmp echo replies ${n('echoReplies')} errors sent ${n('icmpErrorsSent')} rate-limited ${n('icmpErrorsRateLimited')} suppressed ${n('icmpErrorsSuppressed')}  `
      + `buffers held ${num(server, 'held')}  released: ${nonZero(sub(ip, 'released'), RELEASE_REASONS)}`,
    `${pad} drops: ${nonZero(sub(ip, 'drops'), IP_DROP_REASONS)}  tx drops: ${nonZero(sub(ip, 'txDrops'), TX_DROP_REASONS)}  `
      + `frame drops: ${nonZero(sub(ip, 'frameDrops'), FRAME_DROP_REASONS)}`,
  ].join('\n');
}
