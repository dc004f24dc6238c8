/**
 * Path MTU discovery and IP IDs against Linux over TAP (issue 11, "wire deviations").
 *
 * A Linux router pair with a 1280-byte link between them sits between newtos and a
 * Linux peer whose own link is 1500 bytes, so the peer's SYN-ACK offers MSS 1460 and
 * only the middle of the path is narrow:
 *
 *   newtos 10.77.S.2 ─TAP═ R1 10.77.S.1 ─ 10.78.S.1 ══ mtu 1280 ══ 10.78.S.2 R2 10.79.S.1 ─ 10.79.S.2 L
 *
 * newtos sends 4 MB to a Python sink on L. tcpdump on R1's end of the TAP records the
 * transfer; tshark reads it back. Each case checks: the data arrived intact; every TCP
 * segment newtos sent has DF; R1 answered a too-big one with "fragmentation needed"
 * (type 3 code 4, MTU 1280); newtos's segments shrank to fit 1280 after it (and none
 * was fragmented); newtos's IP counters show the learnt path MTU. Without DF on TCP,
 * R1 fragments every full segment instead; without the path MTU cache and the MSS
 * update, the transfer stalls.
 *
 * Cases: offloads off; TSO with the driver cutting bursts (plain TAP); TSO with the
 * kernel cutting them (virtio-net header: R1 receives 64 KiB super-frames and checks
 * their segments against 1280). A last case turns DF off (tcp.pathMtuDiscovery: false)
 * on a direct link with TSO cut by the driver and checks that no IP ID repeats among
 * newtos's datagrams (RFC 6864 §4.1: they may be fragmented).
 *
 * Needs root, the TAP addon, python3, tcpdump and tshark; skipped otherwise.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rig } from '../support/netns.js';
import { exited, pythonSink, sha, startIn, tapHost, tapTestUnavailable, type TapHost } from '../support/linux-peer.js';

const SIZE = 4 * 1024 * 1024;
const SINK_PORT = 9000;
const NARROW_MTU = 1280;
const skipReason = tapTestUnavailable(['python3', 'tcpdump', 'tshark', 'ethtool']);

interface Packet {
  src: string; dst: string; df: boolean; mf: boolean; fragOffset: number; id: number; ipLen: number;
  icmpType: number | null; icmpCode: number | null; icmpMtu: number | null; tcpLen: number | null;
}

/** Every IPv4 packet of a pcap, in order. */
function readPcap(pcap: string): Packet[] {
  const res = spawnSync('tshark', ['-r', pcap, '-Y', 'ip', '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=f',
    '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ip.flags.df', '-e', 'ip.flags.mf', '-e', 'ip.frag_offset', '-e', 'ip.id', '-e', 'ip.len',
    '-e', 'icmp.type', '-e', 'icmp.code', '-e', 'icmp.mtu', '-e', 'tcp.len'], { encoding: 'utf8', timeout: 60_000, maxBuffer: 256 << 20 });
  if (res.status !== 0) throw new Error(`tshark failed: ${res.stderr}`);
  const num = (s: string | undefined): number | null => (s === undefined || s === '' ? null : Number(s));
  const flag = (s: string | undefined): boolean => s === '1' || s === 'True';
  return res.stdout.split('\n').filter((l) => l !== '').map((line) => {
    const [src, dst, df, mf, off, id, len, it, ic, mtu, tl] = line.split('\t');
    return {
      src: src ?? '', dst: dst ?? '', df: flag(df), mf: flag(mf), fragOffset: num(off) ?? 0, id: num(id) ?? -1, ipLen: num(len) ?? 0,
      icmpType: num(it), icmpCode: num(ic), icmpMtu: num(mtu), tcpLen: num(tl),
    };
  });
}

async function sendTo(host: TapHost, linuxNs: string, dstIp: string): Promise<void> {
  const sink = await startIn(linuxNs, ['python3', '-u', '-c', pythonSink(dstIp, SINK_PORT)], /ready/);
  try {
    const data = randomBytes(SIZE);
    await new Promise<void>((resolve, reject) => {
      const sock = host.stack.net.connect({ host: dstIp, port: SINK_PORT });
      sock.on('error', reject);
      sock.on('connect', () => sock.end(data));
      sock.on('close', () => resolve());
      sock.resume();
    });
    const deadline = performance.now() + 60_000;
    let line: RegExpExecArray | null = null;
    while ((line = /^([0-9a-f]{64}) (\d+)$/m.exec(sink.output())) === null && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(line !== null, `the sink never finished: ${sink.output()}`);
    assert.equal(`${line[1]} ${line[2]}`, `${sha(data)} ${SIZE}`, 'Linux received exactly what newtos sent');
  } finally {
    if (sink.child.exitCode === null) { sink.child.kill('SIGKILL'); await exited(sink.child, 5000); }
  }
}

/** Captures on R1's end of the TAP while `body` runs; returns the packets. */
async function captured(ns: string, dev: string, dir: string, name: string, body: () => Promise<void>): Promise<Packet[]> {
  const pcap = join(dir, `${name}.pcap`);
  const dump = await startIn(ns, ['tcpdump', '-i', dev, '-n', '-U', '-s', '96', '-w', pcap, 'ip'], /listening on/);
  try {
    await body();
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    dump.child.kill('SIGINT');
    await exited(dump.child, 5000);
  }
  return readPcap(pcap);
}

const cases = [
  { name: 'offloads off', vnetHeader: false, offloads: { tso: false, gro: false } },
  { name: 'TSO cut by the driver', vnetHeader: false, offloads: { tso: true, gro: true } },
  { name: 'TSO cut by the kernel (virtio-net header)', vnetHeader: true, offloads: { tso: true, gro: true } },
] as const;

describe('path MTU discovery against Linux routers with a 1280-byte link', { skip: skipReason === '' ? false : skipReason, timeout: 240_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'newtos-pmtu-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const c of cases) {
    test(`${c.name}: DF on every segment, frag-needed from the router, segments shrink, transfer intact`, { timeout: 90_000 }, async (t) => {
      const rig = new Rig();
      const made: { host?: TapHost } = {};
      t.after(async () => { await made.host?.stack.close(); rig.cleanup(); });
      const s = randomInt(1, 255);
      const host = made.host = await tapHost(rig, 'pmtu', {
        subnet: s, vnetHeader: c.vnetHeader,
        config: { offloads: c.offloads, routes: [{ destination: `10.79.${s}.0/24`, gateway: `10.77.${s}.1` }] },
      });
      const r1 = host.ns;
      const r2 = await rig.netns();
      const l = await rig.netns();
      const narrow = await rig.veth(r1, r2);
      const wide = await rig.veth(r2, l);
      await rig.addr(r1, narrow.a, `10.78.${s}.1/24`);
      await rig.addr(r2, narrow.b, `10.78.${s}.2/24`);
      await rig.addr(r2, wide.a, `10.79.${s}.1/24`);
      await rig.addr(l, wide.b, `10.79.${s}.2/24`);
      await rig.up(r1, narrow.a, 'mtu', String(NARROW_MTU));
      await rig.up(r2, narrow.b, 'mtu', String(NARROW_MTU));
      await rig.up(r2, wide.a);
      await rig.up(l, wide.b);
      for (const ns of [r1, r2]) await rig.exec(ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      await rig.ip(r1, 'route', 'add', `10.79.${s}.0/24`, 'via', `10.78.${s}.2`);
      await rig.ip(r2, 'route', 'add', `10.77.${s}.0/24`, 'via', `10.78.${s}.1`);
      await rig.ip(l, 'route', 'add', 'default', 'via', `10.79.${s}.1`);
      const peer = `10.79.${s}.2`;

      // With super-frames from the TAP, the sizes newtos cut them at show where R1 cuts them up
      // itself: on the narrow link, with segmentation offload off on that veth.
      if (c.vnetHeader) await rig.exec(r1, ['ethtool', '-K', narrow.a, 'tso', 'off', 'gso', 'off']);
      let onNarrow: Packet[] = [];
      const packets = await captured(r1, host.dev, dir, c.name.replace(/\W+/g, '-'), async () => {
        onNarrow = await captured(r1, narrow.a, dir, 'narrow', () => sendTo(host, l, peer));
      });
      const ours = packets.filter((p) => p.src === host.newtosIp && p.dst === peer && p.tcpLen !== null);
      const fragNeeded = packets.findIndex((p) => p.dst === host.newtosIp && p.icmpType === 3 && p.icmpCode === 4);
      const fragments = packets.filter((p) => p.src === host.newtosIp && (p.mf || p.fragOffset > 0)).length;
      const oursAfter = packets.slice(fragNeeded + 1).filter((p) => p.src === host.newtosIp && p.tcpLen !== null);
      const before = Math.max(...packets.slice(0, Math.max(0, fragNeeded)).filter((p) => p.src === host.newtosIp && p.tcpLen !== null).map((p) => p.ipLen));
      const crossed = onNarrow.filter((p) => p.src === host.newtosIp && p.tcpLen !== null);
      const tooBigAfter = oursAfter.filter((p) => p.ipLen > NARROW_MTU).length;
      t.diagnostic(`${c.name}: ${ours.length} TCP segments from newtos (${ours.filter((p) => p.df).length} with DF), ${fragments} fragments; ` +
        `frag-needed (MTU ${fragNeeded >= 0 ? packets[fragNeeded]!.icmpMtu : '-'}) at packet ${fragNeeded}; largest datagram before it ${before} B, ` +
        `after it ${Math.max(...oursAfter.map((p) => p.ipLen))} B (${tooBigAfter} larger than ${NARROW_MTU}); ` +
        `on the narrow link ${crossed.length} segments, largest ${Math.max(...crossed.map((p) => p.ipLen))} B`);
      assert.ok(ours.length > 0);
      assert.ok(ours.every((p) => p.df), `every newtos segment has DF (${ours.filter((p) => !p.df).length} without)`);
      assert.ok(fragNeeded >= 0, 'the router sent "fragmentation needed"');
      assert.equal(packets[fragNeeded]!.icmpMtu, NARROW_MTU);
      assert.equal(fragments, 0, 'newtos fragmented nothing');
      assert.ok(before > NARROW_MTU, 'newtos started with full-sized segments');
      // The data crossed the narrow link in segments cut at its MTU (tcpdump may miss some on a busy machine).
      assert.ok(crossed.length > 1000, `${crossed.length} segments crossed the 1280-byte link`);
      assert.equal(Math.max(...crossed.map((p) => p.ipLen)), NARROW_MTU, 'full segments fill the path MTU exactly');
      if (!c.vnetHeader) {
        assert.ok(oursAfter.length > 1000, 'most of the transfer came after the ICMP');
        // A few segments already in flight when the ICMP came may follow it; the rest fit.
        assert.ok(tooBigAfter <= 64, `${tooBigAfter} segments too big after the ICMP`);
        assert.ok(oursAfter.slice(-500).every((p) => p.ipLen <= NARROW_MTU), 'the end of the transfer fits 1280');
      }
      const ip = host.stack.counters().ip as { pmtu: Record<string, number> };
      assert.equal(ip.pmtu['entries'], 1, `one path MTU cached: ${JSON.stringify(ip.pmtu)}`);
      assert.ok(ip.pmtu['learned']! >= 1, `learnt: ${JSON.stringify(ip.pmtu)}`);
    });
  }

  test('DF off (tcp.pathMtuDiscovery: false), TSO cut by the driver: no IP ID repeats among newtos datagrams', { timeout: 90_000 }, async (t) => {
    const rig = new Rig();
    const made: { host?: TapHost } = {};
    t.after(async () => { await made.host?.stack.close(); rig.cleanup(); });
    const host = made.host = await tapHost(rig, 'ipid', { vnetHeader: false, config: { offloads: { tso: true, gro: true }, tcp: { pathMtuDiscovery: false } } });
    // The sink runs in the TAP's own namespace (the kernel end has the address).
    const packets = await captured(host.ns, host.dev, dir, 'ipid', () => sendTo(host, host.ns, host.linuxIp));
    const ours = packets.filter((p) => p.src === host.newtosIp);
    // Within this transfer (well under 65536 datagrams, far less than a lifetime) no ID may repeat.
    const seen = new Map<number, number>();
    for (const p of ours) seen.set(p.id, (seen.get(p.id) ?? 0) + 1);
    const reused = [...seen.values()].filter((n) => n > 1).length;
    t.diagnostic(`${ours.length} datagrams from newtos (${ours.filter((p) => p.df).length} with DF), ${seen.size} distinct IP IDs, ${reused} IDs used more than once`);
    assert.ok(ours.length > 1000, `${ours.length} datagrams`);
    assert.ok(ours.every((p) => !p.df), 'DF is off as configured');
    assert.equal(reused, 0, `${reused} IP IDs reused among ${ours.length} non-DF datagrams`);
  });
});
