/**
 * stack.ping from newtos to the Linux kernel over a TAP device, and through a
 * Linux router to a second namespace (root; skipped otherwise):
 *
 *   newtos 10.77.X.2 ── TAP ══ R: DEV 10.77.X.1 (forwarding) │ VR 10.78.X.1 ══ VL 10.78.X.2 :L
 *
 * Linux answers echo requests (also fragmented ones) and its flood ping is answered in
 * full, the routed reply arrives
 * with TTL 63, a request with TTL 1 comes back as the router's ICMP time
 * exceeded, and one to an address nobody on L's link has comes back as the
 * router's ICMP host unreachable.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { Rig } from '../support/netns.js';
import { tapHost, tapTestUnavailable, type TapHost } from '../support/linux-peer.js';

const skipReason = tapTestUnavailable(['ping']);

describe('stack.ping from newtos to Linux over a TAP device', { skip: skipReason === '' ? false : skipReason, timeout: 90_000 }, () => {
  const rig = new Rig();
  const subnet = randomInt(1, 255);
  const routerIp = `10.77.${subnet}.1`;
  const farIp = `10.78.${subnet}.2`;
  let host: TapHost | undefined;

  before(async () => {
    host = await tapHost(rig, 'ping', {
      subnet,
      // One allow rule keeps PF in the path (a filter that decides nothing is not asked): the
      // flood-ping test below is about the buffers IP copies for the filter's verdict.
      config: { routes: [{ destination: `10.78.${subnet}.0/24`, gateway: routerIp }], filter: 'default allow\nallow' },
    });
    const linuxNs = await rig.netns();
    const v = await rig.veth(host.ns, linuxNs);
    await rig.addr(host.ns, v.a, `10.78.${subnet}.1/24`);
    await rig.addr(linuxNs, v.b, `${farIp}/24`);
    await rig.up(host.ns, v.a);
    await rig.up(linuxNs, v.b);
    await rig.exec(host.ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    await rig.ip(linuxNs, 'route', 'add', 'default', 'via', `10.78.${subnet}.1`);
  });

  after(async () => {
    await host?.stack.close();
    rig.cleanup();
  });

  test('the kernel on the link answers: 5 replies, TTL 64, round-trip times measured', async () => {
    // The first request waits for ARP; the figure printed is for the five after it.
    const first = await host!.stack.ping(routerIp, { count: 1, timeoutMs: 3000 });
    assert.equal(first.received, 1, JSON.stringify(first));
    const r = await host!.stack.ping(routerIp, { count: 5, intervalMs: 10, timeoutMs: 3000 });
    assert.equal(r.received, 5, JSON.stringify(r));
    for (const x of r.replies) {
      assert.equal(x.from, routerIp);
      assert.equal(x.ttl, 64);
      assert.equal(x.bytes, 56);
      assert.ok(x.rttMs > 0 && x.rttMs < 3000);
    }
    console.error(`ping newtos → Linux over TAP (first, with ARP: ${first.replies[0]!.rttMs.toFixed(3)} ms): rtt min/avg/max/mdev = ${[r.rtt!.minMs, r.rtt!.avgMs, r.rtt!.maxMs, r.rtt!.mdevMs].map((v) => v.toFixed(3)).join('/')} ms`);
  });

  test('Linux flood-pings newtos: 2000 requests, every one answered, no buffer left held', async () => {
    // Each reply is a packet IP builds and copies into its pool (256 buffers) for the filter's
    // verdict; those copies (and the request frames) once stayed held until a 5 s sweep, and
    // a flood ping lost half its replies once the pools ran dry.
    const { ns, newtosIp, stack } = host!;
    const r = await rig.exec(ns, ['ping', '-f', '-c', '2000', '-W', '5', newtosIp], { allowFailure: true, timeoutMs: 60_000 });
    assert.match(r.stdout, /2000 packets transmitted, 2000 received/, r.stdout + r.stderr);
    await new Promise((r) => setTimeout(r, 100)); // counters reach shared memory within 20 ms
    const server = stack.counters().ip['server'] as Record<string, number>;
    assert.equal(server['held'], 0, JSON.stringify(server));
    assert.equal(server['verdictCopies'], 0, JSON.stringify(server));
    assert.equal(server['verdictNoBuffer'], 0);
  });

  test('fragmented requests (3000 data bytes) are reassembled by Linux and its fragmented replies by newtos', async () => {
    const r = await host!.stack.ping(routerIp, { count: 2, intervalMs: 0, size: 3000, timeoutMs: 3000 });
    assert.equal(r.received, 2, JSON.stringify(r));
    assert.equal(r.corrupted, 0);
    assert.ok(r.replies.every((x) => x.bytes === 3000));
  });

  test('through the Linux router: the reply arrives with TTL 63', async () => {
    const r = await host!.stack.ping(farIp, { count: 2, intervalMs: 0, timeoutMs: 3000 });
    assert.equal(r.received, 2, JSON.stringify(r));
    assert.ok(r.replies.every((x) => x.from === farIp && x.ttl === 63));
  });

  test('TTL 1 through the router: ICMP time exceeded from the router', async () => {
    const r = await host!.stack.ping(farIp, { count: 1, ttl: 1, timeoutMs: 3000 });
    assert.equal(r.received, 0);
    assert.equal(r.errors.length, 1, JSON.stringify(r));
    assert.equal(r.errors[0]!.from, routerIp);
    assert.equal(r.errors[0]!.icmpType, 11);
    assert.equal(r.errors[0]!.icmpCode, 0);
  });

  test('an address nobody has behind the router: ICMP host unreachable from the router (EHOSTUNREACH)', async () => {
    // Linux gives up on ARP after ~3 s (3 solicitations, 1 s apart) and reports it.
    const r = await host!.stack.ping(`10.78.${subnet}.99`, { count: 1, timeoutMs: 8000 });
    assert.equal(r.received, 0);
    assert.equal(r.errors.length, 1, JSON.stringify(r));
    assert.deepEqual({ ...r.errors[0], message: undefined, seq: undefined },
      { code: 'EHOSTUNREACH', from: routerIp, icmpType: 3, icmpCode: 1, message: undefined, seq: undefined });
  });
});
