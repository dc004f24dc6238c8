/**
 * TCP and UDP statistics as text: lines for `newtos stats` and Prometheus
 * metrics for `/metrics`. Both read what the TCP server publishes to its
 * counter block (TcpCounters plus TcpGauges, src/tcp/counters.ts) and the UDP
 * server's stats words (src/udp/udp-stats.ts): shared memory, no message to a
 * server.
 *
 * Every TCP and UDP counter has its metric here; the tables are typed by the
 * counters' names, so a counter added without a metric does not compile.
 */
import { TCP_STATE_LABELS, type TcpCounters } from '../tcp/counters.js';
import type { UdpStatName, UdpStats } from '../udp/udp-stats.js';
import type { CounterTree } from '../abi/published-counters.js';

/** One Prometheus sample source: metric name (without the host label), help, and its own labels. */
export interface CounterMetric {
  readonly name: string;
  readonly help: string;
  readonly labels?: Readonly<Record<string, string>>;
}

type Samples = [Record<string, string>, number][];
/** Appends one metric family: HELP, TYPE, samples (the writer of stats-text.ts). */
export type MetricWriter = (name: string, help: string, type: 'counter' | 'gauge', samples: Samples) => void;

const tcpDrop = (reason: string): CounterMetric => ({ name: 'newtos_tcp_drops_total', help: 'Segments TCP dropped, by reason.', labels: { reason } });
const tcpRecovery = (method: string): CounterMetric => ({ name: 'newtos_tcp_fast_recoveries_total', help: 'Fast recoveries entered (RFC 6675 SACK-based or RFC 6582 NewReno), by method.', labels: { method } });

export const TCP_COUNTER_METRICS: Record<keyof TcpCounters, CounterMetric> = {
  segmentsIn: { name: 'newtos_tcp_segments_total', help: 'TCP segments received (a coalesced burst counts once) and sent (a TSO burst counts as the segments it is cut into).', labels: { direction: 'in' } },
  segmentsOut: { name: 'newtos_tcp_segments_total', help: 'TCP segments received (a coalesced burst counts once) and sent (a TSO burst counts as the segments it is cut into).', labels: { direction: 'out' } },
  dropTruncated: tcpDrop('truncated'),
  dropBadDataOffset: tcpDrop('bad-data-offset'),
  dropBadChecksum: tcpDrop('bad-checksum'),
  dropNoSocket: tcpDrop('no-socket'),
  dropNoBuffers: tcpDrop('no-buffers'),
  dropOutOfWindow: tcpDrop('out-of-window'),
  dropPaws: tcpDrop('paws'),
  dropBadAck: tcpDrop('bad-ack'),
  dropListenNonSyn: tcpDrop('listen-non-syn'),
  dropSynQueueFull: tcpDrop('syn-queue-full'),
  dropSynNoBuffers: tcpDrop('syn-no-buffers'),
  dropBadCookie: tcpDrop('bad-syn-cookie'),
  dropCookieAcceptQueueFull: tcpDrop('syn-cookie-accept-queue-full'),
  dropOooLimit: tcpDrop('out-of-order-limit'),
  dropNoRoom: tcpDrop('no-room'),
  dropInvalidAddress: tcpDrop('invalid-address'),
  timeWaitOverflow: { name: 'newtos_tcp_time_wait_overflow_total', help: 'Connections closed at once instead of waiting in TIME-WAIT (the TIME-WAIT limit was reached).' },
  outOfWindowAcksNotAnswered: { name: 'newtos_tcp_out_of_window_acks_not_answered_total', help: 'Pure ACKs outside the window dropped without the reply ACK (rate limit).' },
  pawsDisorderedAcks: { name: 'newtos_tcp_paws_disordered_acks_total', help: 'Reordered duplicate ACKs that failed PAWS and were accepted (as Linux does).' },
  pawsAcksNotAnswered: { name: 'newtos_tcp_paws_acks_not_answered_total', help: 'Pure ACKs dropped by PAWS without the reply ACK (rate limit).' },
  retransmits: { name: 'newtos_tcp_retransmitted_segments_total', help: 'Segments sent again (timeouts, fast retransmit, SACK recovery).' },
  fastRetransmits: { name: 'newtos_tcp_fast_retransmits_total', help: 'Fast retransmits (one on entering each fast recovery).' },
  rtoTimeouts: { name: 'newtos_tcp_retransmission_timeouts_total', help: 'Retransmission timer expirations (RFC 6298), SYNs included.' },
  sackRecoveries: tcpRecovery('sack'),
  newRenoRecoveries: tcpRecovery('newreno'),
  dsacksSent: { name: 'newtos_tcp_dsacks_total', help: 'D-SACK blocks (RFC 2883) sent for duplicate segments and received.', labels: { direction: 'out' } },
  dsacksReceived: { name: 'newtos_tcp_dsacks_total', help: 'D-SACK blocks (RFC 2883) sent for duplicate segments and received.', labels: { direction: 'in' } },
  spuriousRetransmits: { name: 'newtos_tcp_spurious_retransmits_total', help: 'Retransmitted segments a D-SACK showed the receiver already had.' },
  spuriousRecoveriesUndone: { name: 'newtos_tcp_spurious_recoveries_undone_total', help: 'Congestion responses undone because D-SACKs showed them spurious (RFC 3708).' },
  lostRetransmits: { name: 'newtos_tcp_lost_retransmits_total', help: 'Retransmissions found lost by the SACKs of later data and sent again before the RTO.' },
  tlpProbes: { name: 'newtos_tcp_tail_loss_probes_total', help: 'Tail loss probes sent (RFC 8985 section 7).' },
  tlpRecoveries: { name: 'newtos_tcp_tail_loss_probe_recoveries_total', help: 'Tail loss probes whose ACK showed they repaired a loss (congestion response made).' },
  rackLost: { name: 'newtos_tcp_rack_lost_total', help: 'Segments RACK (RFC 8985) marked lost by time.' },
  rackReoWndGrown: { name: 'newtos_tcp_rack_reo_wnd_grown_total', help: 'D-SACK rounds that widened the RACK reordering window.' },
  reorderingDetected: { name: 'newtos_tcp_reordering_detected_total', help: 'Times SACKs or D-SACKs raised the reordering degree (adaptive duplicate-ACK threshold).' },
  rstsOut: { name: 'newtos_tcp_resets_sent_total', help: 'RST segments sent.' },
  challengeAcks: { name: 'newtos_tcp_challenge_acks_total', help: 'Challenge ACKs sent (RFC 5961).' },
  challengeAcksSuppressed: { name: 'newtos_tcp_challenge_acks_suppressed_total', help: 'Challenge ACKs not sent because of the rate limit (RFC 5961 section 7).' },
  allocFailures: { name: 'newtos_tcp_alloc_failures_total', help: 'Segments not sent at once for want of a pool buffer.' },
  delayedAcks: { name: 'newtos_tcp_delayed_acks_total', help: 'ACKs sent by the delayed-ACK timer.' },
  zeroWindowProbes: { name: 'newtos_tcp_zero_window_probes_total', help: 'Zero-window probes sent.' },
  keepAliveProbes: { name: 'newtos_tcp_keepalive_probes_total', help: 'Keep-alive probes sent.' },
  activeOpens: { name: 'newtos_tcp_active_opens_total', help: 'Connections opened by this host (SYN sent).' },
  passiveOpens: { name: 'newtos_tcp_passive_opens_total', help: 'Connections accepted by a listener.' },
  synCookiesSent: { name: 'newtos_tcp_syn_cookies_sent_total', help: 'SYN-ACKs sent with a SYN cookie instead of a SYN-queue entry.' },
  synCookiesAccepted: { name: 'newtos_tcp_syn_cookies_accepted_total', help: 'Connections made from a valid SYN cookie.' },
  synCookiesOverSynReceived: { name: 'newtos_tcp_syn_cookies_over_syn_received_total', help: 'Cookie ACKs that replaced the SYN-RECEIVED entry a repeated SYN had made (the peer completed the cookie handshake).' },
  connectionsReset: { name: 'newtos_tcp_connections_reset_total', help: 'Connections ended by a reset (ECONNRESET or ECONNREFUSED).' },
  connectionsTimedOut: { name: 'newtos_tcp_connections_timed_out_total', help: 'Connections ended by a timeout (ETIMEDOUT).' },
  icmpErrors: { name: 'newtos_tcp_icmp_errors_total', help: 'ICMP errors about TCP segments received.' },
  pmtuUpdates: { name: 'newtos_tcp_pmtu_updates_total', help: 'Path MTU decreases applied to connections.' },
  pmtuIgnored: { name: 'newtos_tcp_pmtu_ignored_total', help: '"Fragmentation needed" reports whose MTU left the MSS as it was.' },
};

const udpDrop = (reason: string): CounterMetric => ({ name: 'newtos_udp_drops_total', help: 'Datagrams UDP dropped or discarded, by reason.', labels: { reason } });

export const UDP_COUNTER_METRICS: Record<UdpStatName, CounterMetric> = {
  received: { name: 'newtos_udp_datagrams_received_total', help: 'UDP datagrams received from IP.' },
  delivered: { name: 'newtos_udp_datagrams_delivered_total', help: 'UDP datagrams delivered to a socket.' },
  dropTruncated: udpDrop('truncated'),
  dropBadLength: udpDrop('bad-length'),
  dropBadChecksum: udpDrop('bad-checksum'),
  dropNoPort: udpDrop('no-port'),
  dropRecvRingFull: udpDrop('receive-buffer-full'),
  portUnreachableRequested: { name: 'newtos_udp_port_unreachable_requested_total', help: 'ICMP port unreachable errors asked of IP.' },
  portUnreachableNotSent: { name: 'newtos_udp_port_unreachable_not_sent_total', help: 'No-port drops for which no ICMP error could be asked.' },
  sent: { name: 'newtos_udp_datagrams_sent_total', help: 'UDP datagrams sent.' },
  dropBadRecord: udpDrop('bad-send-record'),
  dropTooBig: udpDrop('too-big'),
  sendStalls: { name: 'newtos_udp_send_stalls_total', help: 'Sends that waited for a pool buffer or room in the channel to IP.' },
  dropAtClose: udpDrop('unsent-at-close'),
  icmpErrorsIn: { name: 'newtos_udp_icmp_errors_total', help: 'ICMP errors about datagrams sent.' },
  icmpPortUnreachableIn: { name: 'newtos_udp_icmp_port_unreachable_total', help: 'ICMP port unreachable errors about datagrams sent.' },
  binds: { name: 'newtos_udp_binds_total', help: 'UDP sockets bound.' },
  bindFailures: { name: 'newtos_udp_bind_failures_total', help: 'UDP binds refused.' },
  closes: { name: 'newtos_udp_closes_total', help: 'UDP sockets closed.' },
  kicks: { name: 'newtos_udp_kicks_total', help: 'Wake-up messages the UDP server received from applications.' },
  unknownMessages: { name: 'newtos_udp_unknown_messages_total', help: 'Messages of an unknown type the UDP server ignored.' },
};

/** A number from a published counter tree (0 where absent, e.g. before the first publish). */
export function num(tree: CounterTree | undefined, key: string): number {
  const v = tree?.[key];
  return typeof v === 'number' ? v : 0;
}

export function sub(tree: CounterTree | undefined, key: string): CounterTree | undefined {
  const v = tree?.[key];
  return typeof v === 'object' && !Array.isArray(v) ? v as CounterTree : undefined;
}

/** Writes the counters (or gauges) of one table, one family per metric name (in table order), each sample labelled with the host. */
export function writeCounters(write: MetricWriter, host: string, table: Readonly<Record<string, CounterMetric>>, value: (key: string) => number, type: 'counter' | 'gauge' = 'counter'): void {
  const families = new Map<string, { help: string; samples: Samples }>();
  for (const [key, m] of Object.entries(table)) {
    let f = families.get(m.name);
    if (f === undefined) { f = { help: m.help, samples: [] }; families.set(m.name, f); }
    f.samples.push([{ host, ...m.labels }, value(key)]);
  }
  for (const [name, f] of families) write(name, f.help, type, f.samples);
}

/** TCP metrics from the TCP server's published counters (Stack.counters().tcp). */
export function tcpPrometheus(write: MetricWriter, host: string, tcp: CounterTree): void {
  writeCounters(write, host, TCP_COUNTER_METRICS, (k) => num(tcp, k));
  const conns = sub(tcp, 'connections');
  write('newtos_tcp_connections', 'TCP connections by state (listeners as listen; closed: ended, not yet closed by the application).', 'gauge',
    TCP_STATE_LABELS.map((state) => [{ host, state }, num(conns, state)]));
  const rtt = sub(tcp, 'rtt');
  write('newtos_tcp_srtt_connections', 'Connections in the smoothed-RTT figures (synchronized, not TIME-WAIT, with an RTT sample).', 'gauge', [[{ host }, num(rtt, 'connections')]]);
  write('newtos_tcp_srtt_min_seconds', 'Smallest smoothed RTT (RFC 6298 SRTT) of those connections.', 'gauge', [[{ host }, num(rtt, 'minMs') / 1000]]);
  write('newtos_tcp_srtt_mean_seconds', 'Mean smoothed RTT of those connections.', 'gauge', [[{ host }, num(rtt, 'meanMs') / 1000]]);
  write('newtos_tcp_srtt_max_seconds', 'Largest smoothed RTT of those connections.', 'gauge', [[{ host }, num(rtt, 'maxMs') / 1000]]);
}

/** UDP metrics from the UDP server's stats (Stack.udpStats()). */
export function udpPrometheus(write: MetricWriter, host: string, udp: UdpStats): void {
  writeCounters(write, host, UDP_COUNTER_METRICS, (k) => udp[k as UdpStatName]);
}

const ms = (v: number): string => v.toFixed(3);

/** Lines for `newtos stats`: connections by state, the main counters, the RTT summary. */
export function tcpLines(host: string, tcp: CounterTree): string {
  const conns = sub(tcp, 'connections');
  const rtt = sub(tcp, 'rtt');
  const n = (k: keyof TcpCounters): number => num(tcp, k);
  const pad = `${host.padEnd(10)} tcp    `;
  const drops = Object.entries(TCP_COUNTER_METRICS).filter(([k, m]) => m.name === 'newtos_tcp_drops_total' && num(tcp, k) > 0)
    .map(([k, m]) => `${m.labels!['reason']} ${num(tcp, k)}`).join(', ');
  return [
    `${pad} connections: ${TCP_STATE_LABELS.map((s) => `${s} ${num(conns, s)}`).join('  ')}`,
    `${pad} opens active ${n('activeOpens')} passive ${n('passiveOpens')}  segments in ${n('segmentsIn')} out ${n('segmentsOut')}  `
      + `retransmitted ${n('retransmits')}  timeouts ${n('rtoTimeouts')}  fast recoveries ${n('fastRetransmits')} (sack ${n('sackRecoveries')}, newreno ${n('newRenoRecoveries')})  `
      + `spurious ${n('spuriousRetransmits')} (undone ${n('spuriousRecoveriesUndone')})`,
    `${pad} resets sent ${n('rstsOut')}  connections reset ${n('connectionsReset')} timed out ${n('connectionsTimedOut')}  syn cookies sent ${n('synCookiesSent')} accepted ${n('synCookiesAccepted')}  `
      + `challenge acks ${n('challengeAcks')}  out-of-window ${n('dropOutOfWindow')}`,
    `${pad} srtt min/avg/max ${ms(num(rtt, 'minMs'))}/${ms(num(rtt, 'meanMs'))}/${ms(num(rtt, 'maxMs'))} ms over ${num(rtt, 'connections')} connections  drops: ${drops === '' ? 'none' : drops}`,
  ].join('\n');
}

/** One line for `newtos stats`: datagrams each way and drops by reason (only the non-zero ones). */
export function udpLine(host: string, udp: UdpStats): string {
  const drops = Object.entries(UDP_COUNTER_METRICS).filter(([k, m]) => m.name === 'newtos_udp_drops_total' && udp[k as UdpStatName] > 0)
    .map(([k, m]) => `${m.labels!['reason']} ${udp[k as UdpStatName]}`).join(', ');
  return `${host.padEnd(10)} udp     received ${udp.received} delivered ${udp.delivered} sent ${udp.sent}  drops: ${drops === '' ? 'none' : drops}`;
}
