// Interface configuration → the right backend, opened and usable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import type { InterfaceConfig } from '../../../src/config/stack-config.js';
import { formatMac } from '../../../src/driver/nic/backend.js';
import { openNicBackend } from '../../../src/driver/nic/open.js';
import { StreamLink } from '../../../src/driver/nic/stream-link.js';
import { UdpLink, VxlanLink } from '../../../src/driver/nic/udp-link.js';
import { TapBackend } from '../../../src/driver/nic/tap.js';
import { rigUnavailableReason } from '../../support/netns.js';

function ifc(link: InterfaceConfig['link'], extra: Partial<InterfaceConfig> = {}): InterfaceConfig {
  return { name: 'eth0', link, addresses: [], ...extra };
}

test('open: dgram and vxlan configurations give bound UDP links with the configured MAC and MTU', async (t) => {
  const peer = createSocket('udp4');
  peer.bind(0, '127.0.0.1');
  await once(peer, 'listening');
  t.after(() => peer.close());
  const remote = { host: '127.0.0.1', port: peer.address().port };
  const udp = await openNicBackend(ifc({ type: 'udp', mode: 'dgram', local: { host: '127.0.0.1', port: 0 }, remote }, { mac: '02:00:00:00:00:07', mtu: 9000 }));
  t.after(() => udp.close());
  assert.ok(udp instanceof UdpLink);
  assert.equal(formatMac(udp.mac), '02:00:00:00:00:07');
  assert.equal(udp.mtu, 9000);
  const vx = await openNicBackend(ifc({ type: 'udp', mode: 'vxlan', local: { host: '127.0.0.1', port: 0 }, remote, vni: 9 }));
  t.after(() => vx.close());
  assert.ok(vx instanceof VxlanLink);
  assert.equal(vx.vni, 9);
  assert.equal(vx.mtu, 1450);
});

test('open: stream configuration listens when the remote port is 0, else connects', async (t) => {
  const listener = await openNicBackend(ifc({ type: 'udp', mode: 'stream', local: { host: '127.0.0.1', port: 0 }, remote: { host: '0.0.0.0', port: 0 } }));
  t.after(() => listener.close());
  assert.ok(listener instanceof StreamLink);
  const port = listener.localPort();
  const connector = await openNicBackend(ifc({ type: 'udp', mode: 'stream', local: { host: '127.0.0.1', port: 0 }, remote: { host: '127.0.0.1', port } }));
  t.after(() => connector.close());
  assert.ok(connector instanceof StreamLink && connector.connected);
});

test('open: vswitch needs a resolver', async () => {
  await assert.rejects(openNicBackend(ifc({ type: 'vswitch', switch: 'sw0' })), { code: 'ERR_VSWITCH_UNAVAILABLE' });
});

test('open: tap configuration creates the device', async (t) => {
  if (rigUnavailableReason() !== '') { t.skip('needs root: creates a TAP device'); return; }
  const name = `ntop${process.pid % 1_000_000}`;
  const tap = await openNicBackend(ifc({ type: 'tap', device: name, vnetHeader: true }, { mtu: 1400 }));
  t.after(() => tap.close());
  assert.ok(tap instanceof TapBackend);
  assert.equal(tap.name, name);
  assert.equal(tap.mtu, 1400);
  assert.equal(tap.vnetHdr, true);
});
