/**
 * Wire-format speed: `npm run bench:wire [-- --json]`.
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
 * Figures are wall-clock averages over repeated rounds (best round reported);
 * on a shared 2-core machine they move with the load of other processes.
 */
import { cpus } from 'node:os';
import { internetChecksum } from '../src/wire/checksum.js';
import { EtherType, emitEthernet, parseEthernet } from '../src/wire/ethernet.js';
import { IpProtocol, emitIpv4, parseIpv4 } from '../src/wire/ipv4.js';
import { TcpSegment, emitTcpHeader, parseTcpInto, tcpHeaderLenFor, writeTcpChecksum, TcpFlag } from '../src/wire/tcp.js';

const json = process.argv.includes('--json');

function bestOf(rounds: number, fn: () => number): number {
  let best = Infinity;
  for (let r = 0; r < rounds; r++) best = Math.min(best, fn());
  return best;
}

function timeNs(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0);
}

let sink = 0;

function checksumGBps(size: number, iterations: number): number {
  const buf = new Uint8Array(size);
  for (let i = 0; i < size; i++) buf[i] = (i * 131 + 7) & 0xff;
  for (let i = 0; i < 1000; i++) sink ^= internetChecksum(buf);
  const ns = bestOf(7, () => timeNs(() => { for (let i = 0; i < iterations; i++) sink ^= internetChecksum(buf); }));
  return (size * iterations) / ns; // bytes per ns = GB/s
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

function parseEmitNs(withTcpChecksum: boolean, iterations: number): number {
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
  for (let i = 0; i < 20_000; i++) run();
  return bestOf(7, () => timeNs(() => { for (let i = 0; i < iterations; i++) run(); })) / iterations;
}

const checksum64k = checksumGBps(65536, 3000);
const checksum1500 = checksumGBps(1500, 100_000);
const parseEmit = parseEmitNs(false, 200_000);
const parseEmitCk = parseEmitNs(true, 100_000);
const cores = cpus().length;

const result = {
  checksum_gbytes_per_s: Number(checksum64k.toFixed(2)),
  checksum_1500_gbytes_per_s: Number(checksum1500.toFixed(2)),
  parse_emit_ns_per_packet: Number(parseEmit.toFixed(1)),
  parse_emit_with_tcp_checksum_ns_per_packet: Number(parseEmitCk.toFixed(1)),
  frame_bytes: 1514,
  cores,
};

if (json) {
  console.log(JSON.stringify(result));
} else {
  console.log(`wire benchmark (${cores} cores, Node ${process.version}; shared machine: figures move with load)`);
  console.log(`  checksum, 64 KiB buffers        ${result.checksum_gbytes_per_s} GB/s   (target >= 5)`);
  console.log(`  checksum, 1500-byte buffers     ${result.checksum_1500_gbytes_per_s} GB/s`);
  console.log(`  parse+emit Eth+IPv4+TCP headers ${result.parse_emit_ns_per_packet} ns/packet   (1514-byte frame; target < 500)`);
  console.log(`  ... plus TCP checksum both ways ${result.parse_emit_with_tcp_checksum_ns_per_packet} ns/packet`);
}
if (sink === 0.5) console.log('');
