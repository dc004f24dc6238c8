/**
 * Wire-format speed: `npm run bench:wire [-- --json] [-- --smoke]`
 * (--smoke: a hundredth of the iterations, only to check that it runs; test/bench).
 *
 * - checksum: RFC 1071 Internet checksum (src/wire/checksum.ts) over 64 KiB and
 *   over 1500-byte buffers, GB/s.
 * - parse+emit: one 1514-byte Ethernet + IPv4 + TCP frame (timestamps option,
 *   1448 payload bytes, as Linux sends in bulk): parse the three headers
 *   (IPv4 header checksum verified) into reused targets and emit them into an
 *   output buffer (IPv4 header checksum computed), ns per packet. Headers only:
 *   the TCP checksum over the payload is left to offload. A second figure adds
 *   verifying and computing the TCP checksum over the whole segment.
 *
 * Each figure is the best of several rounds, measured twice: in CPU time of
 * this process (process.cpuUsage; what the code costs when it has a core,
 * little affected by other processes taking turns on a shared machine) and in
 * wall-clock time (what it achieved here, descheduling included). The JSON's
 * main keys are the CPU-time figures; `*_wall` keys are wall-clock.
 */
import { cpus, loadavg } from 'node:os';
import { internetChecksum } from '../src/wire/checksum.js';
import { EtherType, emitEthernet, parseEthernet } from '../src/wire/ethernet.js';
import { IpProtocol, emitIpv4, parseIpv4 } from '../src/wire/ipv4.js';
import { TcpSegment, emitTcpHeader, parseTcpInto, tcpHeaderLenFor, writeTcpChecksum, TcpFlag } from '../src/wire/tcp.js';

const json = process.argv.includes('--json');
const smoke = process.argv.includes('--smoke');
/** Iterations scale: 1, or a hundredth in smoke mode. */
const it = (n: number): number => smoke ? Math.ceil(n / 100) : n;

interface Timing { readonly cpuNs: number; readonly wallNs: number }

/** Best CPU time and best wall time over `rounds` runs of fn. */
function bestOf(rounds: number, fn: () => void): Timing {
  let cpuNs = Infinity;
  let wallNs = Infinity;
  for (let r = 0; r < rounds; r++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    fn();
    const wall = Number(process.hrtime.bigint() - t0);
    const c = process.cpuUsage(c0);
    cpuNs = Math.min(cpuNs, (c.user + c.system) * 1000);
    wallNs = Math.min(wallNs, wall);
  }
  return { cpuNs, wallNs };
}

let sink = 0;

/** GB/s (bytes per ns) in CPU time and wall time. */
function checksumGBps(size: number, iterations: number): { cpu: number; wall: number } {
  const buf = new Uint8Array(size);
  for (let i = 0; i < size; i++) buf[i] = (i * 131 + 7) & 0xff;
  for (let i = 0; i < it(1000); i++) sink ^= internetChecksum(buf);
  const t = bestOf(smoke ? 1 : 9, () => { for (let i = 0; i < iterations; i++) sink ^= internetChecksum(buf); });
  return { cpu: (size * iterations) / t.cpuNs, wall: (size * iterations) / t.wallNs };
}

const SRC = 0x0a630001;
const DST = 0x0a630002;

function makeFrame(): Uint8Array {
  const seg = new TcpSegment();
  seg.srcPort = 40001; seg.dstPort = 8080; seg.seq = 0x12345678; seg.ack = 0x9abcdef0; seg.flags = TcpFlag.ACK | TcpFlag.PSH;
  seg.window = 502; seg.hasTimestamp = true; seg.tsVal = 2964773436; seg.tsEcr = 3387711134;
  const thl = tcpHeaderLenFor(seg);
  const payload = 1500 - 20 - thl;
  const f = new Uint8Array(14 + 1500);
  emitEthernet({ dst: 0x02000000000b, src: 0x02000000000a, ethertype: EtherType.IPv4, vlan: null }, f, 0);
  emitIpv4({
    tos: 0, ident: 0x7777, dontFragment: true, moreFragments: false, fragmentOffset: 0, ttl: 64, protocol: IpProtocol.TCP,
    src: SRC, dst: DST, options: new Uint8Array(0), payloadLen: thl + payload,
  }, f, 14);
  const t = f.subarray(34);
  emitTcpHeader(seg, t);
  for (let i = thl; i < t.length; i++) t[i] = i & 0xff;
  writeTcpChecksum(t, SRC, DST);
  return f;
}

/** ns per packet in CPU time and wall time. */
function parseEmitNs(withTcpChecksum: boolean, iterations: number): { cpu: number; wall: number } {
  const frame = makeFrame();
  const out = new Uint8Array(frame.length);
  out.set(frame.subarray(54), 54); // payload in place, as a forwarder or a send path would have it
  const seg = new TcpSegment();
  const outTcp = out.subarray(34);
  const run = (): void => {
    const e = parseEthernet(frame);
    if (!e.ok) throw new Error('eth');
    const ip = parseIpv4(frame, 14);
    if (!ip.ok) throw new Error('ip');
    const tcpBytes = frame.subarray(34, 34 + ip.value.payloadLen);
    const err = parseTcpInto(tcpBytes, ip.value.src, ip.value.dst, seg, withTcpChecksum);
    if (err !== null) throw new Error(err);
    emitEthernet(e.value, out, 0);
    emitIpv4(ip.value, out, 14);
    emitTcpHeader(seg, outTcp);
    if (withTcpChecksum) writeTcpChecksum(outTcp, ip.value.src, ip.value.dst);
    sink ^= out[20]!;
  };
  for (let i = 0; i < it(20_000); i++) run();
  const t = bestOf(smoke ? 1 : 9, () => { for (let i = 0; i < iterations; i++) run(); });
  return { cpu: t.cpuNs / iterations, wall: t.wallNs / iterations };
}

const checksum64k = checksumGBps(65536, it(3000));
const checksum1500 = checksumGBps(1500, it(100_000));
const parseEmit = parseEmitNs(false, it(300_000));
const parseEmitCk = parseEmitNs(true, it(100_000));
const cores = cpus().length;
const r2 = (x: number): number => Number(x.toFixed(2));
const r1 = (x: number): number => Number(x.toFixed(1));

const result = {
  checksum_gbytes_per_s: r2(checksum64k.cpu),
  checksum_1500_gbytes_per_s: r2(checksum1500.cpu),
  parse_emit_ns_per_packet: r1(parseEmit.cpu),
  parse_emit_with_tcp_checksum_ns_per_packet: r1(parseEmitCk.cpu),
  checksum_gbytes_per_s_wall: r2(checksum64k.wall),
  checksum_1500_gbytes_per_s_wall: r2(checksum1500.wall),
  parse_emit_ns_per_packet_wall: r1(parseEmit.wall),
  parse_emit_with_tcp_checksum_ns_per_packet_wall: r1(parseEmitCk.wall),
  frame_bytes: 1514,
  cores,
  load_average_1min: r2(loadavg()[0]!),
  smoke,
};

if (json) {
  console.log(JSON.stringify(result));
} else {
  console.log(`wire benchmark (${cores} cores, Node ${process.version}, load average ${result.load_average_1min}; shared machine)`);
  console.log('                                      CPU time        wall clock');
  console.log(`  checksum, 64 KiB buffers        ${String(result.checksum_gbytes_per_s).padStart(8)} GB/s   ${String(result.checksum_gbytes_per_s_wall).padStart(8)} GB/s    (target >= 5)`);
  console.log(`  checksum, 1500-byte buffers     ${String(result.checksum_1500_gbytes_per_s).padStart(8)} GB/s   ${String(result.checksum_1500_gbytes_per_s_wall).padStart(8)} GB/s`);
  console.log(`  parse+emit Eth+IPv4+TCP headers ${String(result.parse_emit_ns_per_packet).padStart(8)} ns     ${String(result.parse_emit_ns_per_packet_wall).padStart(8)} ns      (1514-byte frame; target < 500)`);
  console.log(`  ... plus TCP checksum both ways ${String(result.parse_emit_with_tcp_checksum_ns_per_packet).padStart(8)} ns     ${String(result.parse_emit_with_tcp_checksum_ns_per_packet_wall).padStart(8)} ns`);
}
if (sink === 0.5) console.log('');
