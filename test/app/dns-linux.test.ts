/**
 * The DNS client against dnsmasq on Linux over a TAP device (root, dnsmasq; skipped
 * otherwise): a real resolver's bytes, not ours. dnsmasq answers only from its own
 * records (no upstream, no files): an A record, a CNAME to it, NXDOMAIN for the rest of
 * the local domain.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Rig } from '../support/netns.js';
import { startIn, tapHost, tapTestUnavailable, type TapHost } from '../support/linux-peer.js';
import type { ChildProcess } from 'node:child_process';

const skipReason = tapTestUnavailable(['dnsmasq']);

describe('the DNS client against dnsmasq over a TAP device', { skip: skipReason === '' ? false : skipReason, timeout: 90_000 }, () => {
  const rig = new Rig();
  let host: TapHost | undefined;
  let dnsmasq: ChildProcess | undefined;

  before(async () => {
    host = await tapHost(rig, 'dns');
  });

  after(async () => {
    dnsmasq?.kill('SIGKILL');
    await host?.stack.close();
    rig.cleanup();
  });

  test('A record, CNAME chain, NXDOMAIN and the lookup hook', async () => {
    const h = host!;
    dnsmasq = (await startIn(h.ns, ['dnsmasq', '--no-daemon', '--no-resolv', '--no-hosts', '--conf-file=/dev/null', '--user=root',
      `--listen-address=${h.linuxIp}`, '--bind-interfaces', '--local=/test/', `--address=/web.test/${h.linuxIp}`, '--cname=alias.test,web.test',
      '--log-queries'], /started, version/)).child;
    // The resolver's address is known only now (the TAP's random subnet): a DnsClient over the stack.
    const { DnsClient } = await import('../../src/app/dns-client.js');
    const dns = new DnsClient({
      createUdpSocket: () => h.stack.dgram.createSocket('udp4'),
      connectTcp: (o) => h.stack.net.connect(o),
      randomId: () => Math.floor(Math.random() * 65536),
    }, { resolvers: [{ host: h.linuxIp, port: 53 }], timeoutMs: 1000, attempts: 2 });
    assert.deepEqual(await dns.resolve4('web.test'), [h.linuxIp]);
    assert.deepEqual(await dns.resolve4('alias.test'), [h.linuxIp]);
    await assert.rejects(dns.resolve4('nothing.test'), { code: 'ENOTFOUND', syscall: 'queryA', hostname: 'nothing.test' });
    const looked = await new Promise<string>((resolve, reject) => {
      dns.lookup('alias.test', {}, (err, address) => err ? reject(err) : resolve(address as string));
    });
    assert.equal(looked, h.linuxIp);
  });
});
