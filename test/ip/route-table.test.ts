import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTable, type Route } from '../../src/ip/route-table.js';
import { parseIpv4Address as ip } from '../../src/wire/ipv4-address.js';

const routes: Route[] = [
  { prefix: ip('0.0.0.0')!, prefixLen: 0, gateway: ip('10.0.0.1')!, iface: 'wan' },
  { prefix: ip('10.0.0.0')!, prefixLen: 8, gateway: 0, iface: 'wan' },
  { prefix: ip('10.1.0.0')!, prefixLen: 16, gateway: ip('10.0.0.2')!, iface: 'wan' },
  { prefix: ip('10.1.2.0')!, prefixLen: 24, gateway: 0, iface: 'lan' },
  { prefix: ip('10.1.2.128')!, prefixLen: 25, gateway: ip('10.1.2.1')!, iface: 'lan', metric: 10 },
  { prefix: ip('10.1.2.128')!, prefixLen: 25, gateway: ip('10.1.2.2')!, iface: 'lan', metric: 5 },
  { prefix: ip('192.168.7.7')!, prefixLen: 32, gateway: 0, iface: 'host' },
];

const cases: { dst: string; iface: string; nextHop: string }[] = [
  { dst: '8.8.8.8', iface: 'wan', nextHop: '10.0.0.1' },
  { dst: '10.200.0.1', iface: 'wan', nextHop: '10.200.0.1' },
  { dst: '10.1.9.9', iface: 'wan', nextHop: '10.0.0.2' },
  { dst: '10.1.2.3', iface: 'lan', nextHop: '10.1.2.3' },
  { dst: '10.1.2.200', iface: 'lan', nextHop: '10.1.2.2' },
  { dst: '192.168.7.7', iface: 'host', nextHop: '192.168.7.7' },
  { dst: '192.168.7.8', iface: 'wan', nextHop: '10.0.0.1' },
];

for (const c of cases) {
  test(`longest prefix: ${c.dst} → ${c.iface} via ${c.nextHop}`, () => {
    // Insertion order must not matter.
    for (const order of [routes, [...routes].reverse()]) {
      const t = new RouteTable(order);
      const r = t.lookup(ip(c.dst)!);
      assert.ok(r);
      assert.equal(r.route.iface, c.iface);
      assert.equal(r.nextHop, ip(c.nextHop));
    }
  });
}

test('no default route: unknown destinations have no route; remove works', () => {
  const t = new RouteTable(routes.slice(1));
  assert.equal(t.lookup(ip('8.8.8.8')!), null);
  assert.equal(t.remove(ip('10.1.2.128')!, 25, ip('10.1.2.2')!), 1);
  assert.equal(t.lookup(ip('10.1.2.200')!)!.nextHop, ip('10.1.2.1'));
  t.removeInterface('lan');
  assert.equal(t.lookup(ip('10.1.2.200')!)!.route.iface, 'wan');
});

test('host bits in a route prefix are ignored', () => {
  const t = new RouteTable([{ prefix: ip('172.16.5.5')!, prefixLen: 12, gateway: 0, iface: 'x' }]);
  assert.equal(t.lookup(ip('172.31.0.1')!)!.route.iface, 'x');
});
