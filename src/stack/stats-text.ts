/**
 * Renderings of a stack's statistics, all read from shared memory (no message
 * to any server): a fixed-width table for the live view and Prometheus text
 * exposition format for scraping.
 */
import type { DriverStats } from '../driver/driver-stats.js';
import type { SystemSnapshot } from '../substrate/supervisor.js';
import type { SocketOpStats } from '../abi/socket-block.js';
import { withoutMessagePct } from '../abi/socket-block.js';
import { NIC_DROP_REASONS } from '../driver/nic/backend.js';
import type { LinkStats } from '../driver/nic/link-stats.js';
import type { UdpStats } from '../udp/udp-stats.js';
import type { Stack } from './host.js';
import type { PfCounters, PfStats } from '../pf/pf-core.js';
import type { CounterTree } from '../abi/published-counters.js';
import { tcpLines, tcpPrometheus, udpLine, udpPrometheus, writeCounters, type CounterMetric, type MetricWriter } from './transport-stats-text.js';
import { ipLines, ipPrometheus } from './ip-stats-text.js';

export function statsTable(host: string, s: SystemSnapshot, previous?: SystemSnapshot): string {
  const dt = previous === undefined ? 0 : s.at - previous.at;
  const rows = [`${host.padEnd(10)} server  state     msgs in   msgs out  queue  busy%  parks  wakeups  restarts`];
  for (const sv of s.servers) {
    const prev = previous?.servers.find((p) => p.name === sv.name);
    const busy = prev === undefined ? sv.busyMs / Math.max(1, sv.busyMs + sv.idleMs)
      : (sv.busyMs - prev.busyMs) / Math.max(1e-9, dt);
    const queue = sv.inputs.reduce((n, c) => n + c.occupancy, 0);
    rows.push(`${''.padEnd(10)} ${sv.name.padEnd(7)} ${sv.stateName.padEnd(9)} ${String(sv.msgsIn).padStart(8)} ${String(sv.msgsOut).padStart(10)} ${String(queue).padStart(6)} ${(100 * Math.min(1, busy)).toFixed(0).padStart(5)}% ${String(sv.parks).padStart(6)} ${String(sv.wakeups).padStart(8)} ${String(sv.restarts).padStart(9)}`);
  }
  return rows.join('\n');
}

function metric(lines: string[], name: string, help: string, type: 'counter' | 'gauge', samples: [Record<string, string>, number][]): void {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  for (const [labels, v] of samples) {
    const l = Object.entries(labels).map(([k, x]) => `${k}="${x.replace(/["\\\n]/g, '_')}"`).join(',');
    lines.push(`${name}{${l}} ${Number.isFinite(v) ? v : 0}`);
  }
}

/** The TCP server's published counters and the UDP server's stats; the IP server's published counters when given. */
export interface TransportStats {
  readonly ip?: CounterTree;
  readonly tcp: CounterTree;
  readonly udp: UdpStats;
  readonly pf?: PfStats;
}

/** Prometheus text format (version 0.0.4). */
export function statsPrometheus(host: string, s: SystemSnapshot, sockets?: SocketOpStats & { lateWakes?: number; duplicateAccepts?: number }, links?: readonly LinkStats[], driver?: DriverStats, transport?: TransportStats): string {
  const lines: string[] = [];
  const per = (f: (x: SystemSnapshot['servers'][number]) => number): [Record<string, string>, number][] =>
    s.servers.map((sv) => [{ host, server: sv.name }, f(sv)]);
  metric(lines, 'newtos_server_messages_in_total', 'Messages a server consumed.', 'counter', per((x) => x.msgsIn));
  metric(lines, 'newtos_server_messages_out_total', 'Messages a server published.', 'counter', per((x) => x.msgsOut));
  metric(lines, 'newtos_server_restarts_total', 'Restarts of a server.', 'counter', per((x) => x.restarts));
  metric(lines, 'newtos_server_parks_total', 'Times the server thread parked.', 'counter', per((x) => x.parks));
  metric(lines, 'newtos_server_wakeups_total', 'Parks ended by a doorbell.', 'counter', per((x) => x.wakeups));
  metric(lines, 'newtos_server_spins_total', 'Idle iterations spent polling.', 'counter', per((x) => x.spins));
  metric(lines, 'newtos_server_backpressure_total', 'Messages left queued because an output was full.', 'counter', per((x) => x.backpressure));
  metric(lines, 'newtos_server_busy_seconds_total', 'Time the server loop did work.', 'counter', per((x) => x.busyMs / 1000));
  metric(lines, 'newtos_server_idle_seconds_total', 'Time the server loop was idle.', 'counter', per((x) => x.idleMs / 1000));
  metric(lines, 'newtos_server_longest_silent_cpu_seconds', 'Longest CPU time the server\'s thread ran without a heartbeat, as the watchdog saw it (hung at its thread\'s rule, newtos_server_hang_rule_seconds).', 'gauge', per((x) => x.longestSilentCpuMs / 1000));
  metric(lines, 'newtos_server_hang_rule_seconds', 'CPU time without a heartbeat after which the server\'s thread is taken for hung (watchdog.hangCpuMs, or packetHangCpuMs for a thread of packet servers only).', 'gauge', per((x) => x.hangRuleMs / 1000));
  metric(lines, 'newtos_server_queue_depth', 'Messages waiting in a server\'s input rings.', 'gauge', per((x) => x.inputs.reduce((n, c) => n + c.occupancy, 0)));
  if (sockets !== undefined) {
    metric(lines, 'newtos_socket_data_operations_total', 'Socket reads and writes done in shared memory.', 'counter', [[{ host }, sockets.dataOps]]);
    metric(lines, 'newtos_socket_messages_total', 'Socket control and wake-up messages.', 'counter', [[{ host }, sockets.controlMessages + sockets.appWakeMessages + sockets.serverWakeMessages]]);
    if (sockets.lateWakes !== undefined) metric(lines, 'newtos_app_late_wakes_total', 'Application-thread waits that ended by their timeout with their word already changed (a lost notify).', 'counter', [[{ host }, sockets.lateWakes]]);
    if (sockets.duplicateAccepts !== undefined) metric(lines, 'newtos_app_duplicate_announcements_total', 'Accepts and listen replies a restarted TCP server sent again for sockets the application already had (ignored).', 'counter', [[{ host }, sockets.duplicateAccepts]]);
    metric(lines, 'newtos_socket_ops_without_message_ratio', 'Share of socket operations done without a message.', 'gauge', [[{ host }, withoutMessagePct(sockets) / 100]]);
  }
  if (links !== undefined && links.length > 0) {
    metric(lines, 'newtos_link_frames_total', 'Frames a link received or sent.', 'counter',
      links.flatMap((l) => [[{ host, iface: l.iface, direction: 'rx' }, l.rxFrames], [{ host, iface: l.iface, direction: 'tx' }, l.txFrames]] as [Record<string, string>, number][]));
    metric(lines, 'newtos_link_bytes_total', 'Bytes of the frames a link received or sent.', 'counter',
      links.flatMap((l) => [[{ host, iface: l.iface, direction: 'rx' }, l.rxBytes], [{ host, iface: l.iface, direction: 'tx' }, l.txBytes]] as [Record<string, string>, number][]));
    metric(lines, 'newtos_link_drops_total', 'Frames a link dropped, by reason.', 'counter',
      links.flatMap((l) => NIC_DROP_REASONS.map((r) => [{ host, iface: l.iface, reason: r }, l.drops[r]] as [Record<string, string>, number])));
  }
  if (driver !== undefined) {
    metric(lines, 'newtos_driver_rx_queue_frames_total', 'Frames software RSS steered to each receive queue.', 'counter',
      driver.rxQueueFrames.map((n, q) => [{ host, queue: String(q) }, n] as [Record<string, string>, number]));
    metric(lines, 'newtos_driver_gso_bursts_total', 'TSO bursts the driver cut into wire segments.', 'counter', [[{ host }, driver.gsoBursts]]);
    metric(lines, 'newtos_driver_gso_segments_total', 'Wire segments cut from TSO bursts.', 'counter', [[{ host }, driver.gsoSegments]]);
    metric(lines, 'newtos_driver_gro_packets_total', 'Merged packets the driver handed to IP.', 'counter', [[{ host }, driver.groPackets]]);
    metric(lines, 'newtos_driver_gro_merged_frames_total', 'Frames merged into those packets.', 'counter', [[{ host }, driver.groMerged]]);
    metric(lines, 'newtos_driver_tso_bursts_total', 'TSO bursts handed whole to a link that segments them (TAP with a virtio-net header).', 'counter', [[{ host }, driver.tsoBursts]]);
    metric(lines, 'newtos_driver_checksums_filled_total', 'Partial TCP checksums filled on the way out for a link or receiver without checksum offload.', 'counter', [[{ host }, driver.checksumsFilled]]);
    metric(lines, 'newtos_driver_rx_super_frames_total', 'Super-frames larger than the MTU received from such a link.', 'counter', [[{ host }, driver.rxSuperFrames]]);
    metric(lines, 'newtos_driver_rx_no_buffer_total', 'Times the driver had no receive buffer to post (all lent to IP and the transports).', 'counter', [[{ host }, driver.rxNoBufferEpisodes]]);
    metric(lines, 'newtos_driver_rx_no_buffer_ms_total', 'Milliseconds the driver spent without a receive buffer to post.', 'counter', [[{ host }, driver.rxNoBufferMs]]);
    metric(lines, 'newtos_driver_rx_copied_total', 'Small frames the driver handed on in a frame-size copy, keeping its large receive buffer posted (copybreak).', 'counter', [[{ host }, driver.rxCopied]]);
  }
  if (transport !== undefined) {
    const write = (name: string, help: string, type: 'counter' | 'gauge', samples: [Record<string, string>, number][]): void => metric(lines, name, help, type, samples);
    if (transport.ip !== undefined) ipPrometheus(write, host, transport.ip);
    if (transport.pf !== undefined) pfPrometheus(write, host, transport.pf);
    tcpPrometheus(write, host, transport.tcp);
    udpPrometheus(write, host, transport.udp);
  }
  return lines.join('\n') + '\n';
}

/** The driver's offload and RSS counters on one line. */
export function driverLine(host: string, d: DriverStats): string {
  return `${host.padEnd(10)} driver  gso ${d.gsoBursts} bursts -> ${d.gsoSegments} segments  gro ${d.groMerged} frames -> ${d.groPackets} packets  tso ${d.tsoBursts} bursts  super-frames in ${d.rxSuperFrames}  rss queues ${d.rxQueueFrames.join('/')}`;
}

/** One line per interface: frames and bytes each way, drops by reason (only the non-zero ones). */
export function linkTable(host: string, links: readonly LinkStats[]): string {
  return links.map((l) => {
    const drops = NIC_DROP_REASONS.filter((r) => l.drops[r] > 0).map((r) => `${r} ${l.drops[r]}`).join(', ');
    return `${host.padEnd(10)} ${l.iface.padEnd(7)} rx ${l.rxFrames} frames ${l.rxBytes} B  tx ${l.txFrames} frames ${l.txBytes} B  drops: ${drops === '' ? 'none' : drops}`;
  }).join('\n');
}

/** `newtos stats` of a running host: servers, links, driver, IP, TCP and UDP, all read from shared memory. */
export function hostStatsText(host: string, stack: Stack): string {
  const { ip, tcp } = stack.counters();
  return `${[statsTable(host, stack.snapshot()), linkTable(host, stack.linkStats()), driverLine(host, stack.driverStats()),
    ipLines(host, ip), pfLine(host, stack.pfStats()), tcpLines(host, tcp), udpLine(host, stack.udpStats())].join('\n')}\n`;
}

/** The packet filter's verdicts, state table and rule hits on one line. */
export function pfLine(host: string, p: PfStats): string {
  return `${host.padEnd(10)} pf      evaluated ${p.evaluated}  allowed ${p.allowed} (by state ${p.stateHits}) dropped ${p.dropped} rejected ${p.rejected} `
    + `unparseable ${p.unparseable}  default ${p.defaultHits}  states ${p.states} (created ${p.statesCreated} expired ${p.statesExpired} evicted ${p.statesEvicted} table full ${p.stateTableFull})`
    + `  rule hits ${p.ruleHits.length === 0 ? 'none' : p.ruleHits.join('/')}`;
}

const pfVerdict = (verdict: string): CounterMetric => ({ name: 'newtos_pf_verdicts_total', help: 'Packet filter verdicts, by verdict.', labels: { verdict } });

/** Every packet filter counter's metric; typed by the counters' names, so a counter added without one does not compile. */
const PF_COUNTER_METRICS: Record<keyof PfCounters, CounterMetric> = {
  evaluated: { name: 'newtos_pf_packets_evaluated_total', help: 'Packets the packet filter gave a verdict.' },
  allowed: pfVerdict('allow'),
  dropped: pfVerdict('drop'),
  rejected: pfVerdict('reject'),
  stateHits: { name: 'newtos_pf_state_hits_total', help: 'Packets allowed by a flow in the state table (keep state).' },
  unparseable: { name: 'newtos_pf_unparseable_total', help: 'Packets the filter could not parse (dropped).' },
  defaultHits: { name: 'newtos_pf_default_hits_total', help: 'Packets no rule matched (the default action).' },
  statesCreated: { name: 'newtos_pf_states_created_total', help: 'Flows added to the state table.' },
  statesExpired: { name: 'newtos_pf_states_expired_total', help: 'Flows removed from the state table when idle.' },
  stateTableFull: { name: 'newtos_pf_state_table_full_total', help: 'Flows not tracked because the state table was full.' },
  statesEvicted: { name: 'newtos_pf_states_evicted_total', help: 'Flows that never completed, removed from a full state table to make room for a new one.' },
};

function pfPrometheus(write: MetricWriter, host: string, p: PfStats): void {
  writeCounters(write, host, PF_COUNTER_METRICS, (k) => p[k as keyof PfCounters]);
  write('newtos_pf_states', 'Flows in the packet filter\'s state table now.', 'gauge', [[{ host }, p.states]]);
  if (p.ruleHits.length > 0) write('newtos_pf_rule_hits_total', 'Packets each rule matched (rule: its index, from 0).', 'counter', p.ruleHits.map((n, i) => [{ host, rule: String(i) }, n]));
}

/** `/metrics` of a running host: everything hostStatsText shows, as Prometheus text. */
export function hostPrometheus(host: string, stack: Stack): string {
  const { ip, tcp } = stack.counters();
  return statsPrometheus(host, stack.snapshot(), stack.socketStats(), stack.linkStats(), stack.driverStats(), { ip, tcp, udp: stack.udpStats(), pf: stack.pfStats() });
}
