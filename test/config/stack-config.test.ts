import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseLocatedJson } from '../../src/config/located-json.js';
import {
  checkStackConfig, loadStackConfigFile, parseIpv4, parseStackConfig, validateStackConfig,
} from '../../src/config/stack-config.js';

const good = {
  name: 'h1',
  interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.0.0.2/24'], mtu: 1500 }],
  routes: [{ destination: '0.0.0.0/0', gateway: '10.0.0.1' }],
  placement: 'isolated',
  tcp: { congestionControl: 'cubic' },
};

test('a valid configuration is accepted and typed', () => {
  const r = validateStackConfig(good);
  assert.ok(r.ok);
  assert.equal(r.config.interfaces[0]!.addresses[0]!.address, 0x0a000002);
  assert.equal(r.config.interfaces[0]!.addresses[0]!.prefixLength, 24);
  assert.equal(r.config.routes![0]!.gateway, 0x0a000001);
});

test('every congestion control is accepted by name', () => {
  for (const cc of ['cubic', 'newreno', 'bbr'] as const) {
    const r = validateStackConfig({ ...good, tcp: { congestionControl: cc } });
    assert.ok(r.ok, cc);
    assert.equal(r.config.tcp?.congestionControl, cc);
  }
});

const bad: { name: string; config: unknown; path: string; reason: RegExp }[] = [
  { name: 'not an object', config: 42, path: '(top level)', reason: /must be an object/ },
  { name: 'missing interfaces', config: { name: 'x' }, path: 'interfaces', reason: /is required/ },
  { name: 'mtu out of range', config: { interfaces: [{ ...good.interfaces[0], mtu: 70000 }] }, path: 'interfaces[0].mtu', reason: /68 to 65535/ },
  { name: 'bad prefix', config: { interfaces: [{ ...good.interfaces[0], addresses: ['10.0.0.300/24'] }] }, path: 'interfaces[0].addresses[0]', reason: /IPv4 prefix/ },
  { name: 'prefix length 33', config: { interfaces: [{ ...good.interfaces[0], addresses: ['10.0.0.1/33'] }] }, path: 'interfaces[0].addresses[0]', reason: /IPv4 prefix/ },
  { name: 'unknown link type', config: { interfaces: [{ ...good.interfaces[0], link: { type: 'wifi' } }] }, path: 'interfaces[0].link.type', reason: /'vswitch', 'tap', 'udp'/ },
  { name: 'typo field', config: { ...good, placment: 'isolated' }, path: 'placment', reason: /not a known field/ },
  { name: 'pmtu expiry too short', config: { ...good, pmtu: { expiresMs: 10 } }, path: 'pmtu.expiresMs', reason: /1000 to 86400000/ },
  { name: 'pmtu floor below 68', config: { ...good, pmtu: { minMtu: 20 } }, path: 'pmtu.minMtu', reason: /68 to 65535/ },
  { name: 'pathMtuDiscovery not a boolean', config: { ...good, tcp: { pathMtuDiscovery: 'yes' } }, path: 'tcp.pathMtuDiscovery', reason: /true or false/ },
  { name: 'unknown congestion control', config: { ...good, tcp: { congestionControl: 'vegas' } }, path: 'tcp.congestionControl', reason: /one of 'cubic', 'newreno', 'bbr', not 'vegas'/ },
  { name: 'bad placement', config: { ...good, placement: 'fast' }, path: 'placement', reason: /one of 'isolated'/ },
  { name: 'duplicate interface', config: { interfaces: [good.interfaces[0], good.interfaces[0]] }, path: 'interfaces[1].name', reason: /used by an earlier/ },
  { name: 'route to unknown interface', config: { ...good, routes: [{ destination: '10.1.0.0/16', interface: 'eth9' }] }, path: 'routes[0].interface', reason: /names no interface/ },
  { name: 'route with neither gateway nor interface', config: { ...good, routes: [{ destination: '10.1.0.0/16' }] }, path: 'routes[0]', reason: /needs a 'gateway'/ },
  { name: 'udp endpoint without port', config: { interfaces: [{ ...good.interfaces[0], link: { type: 'udp', mode: 'dgram', local: '127.0.0.1', remote: '127.0.0.1:5000' } }] }, path: 'interfaces[0].link.local', reason: /host:port/ },
  { name: 'vxlan without a vni', config: { interfaces: [{ ...good.interfaces[0], link: { type: 'udp', mode: 'vxlan', local: '127.0.0.1:1', remote: '127.0.0.1:2' } }] }, path: 'interfaces[0].link.vni', reason: /is required with mode 'vxlan'/ },
  { name: 'a hang rule below its floor', config: { ...good, watchdog: { hangCpuMs: 1 } }, path: 'watchdog.hangCpuMs', reason: /from 5 to 600000/ },
  { name: 'a packet hang rule above its ceiling', config: { ...good, watchdog: { packetHangCpuMs: 600_001 } }, path: 'watchdog.packetHangCpuMs', reason: /from 5 to 600000/ },
  { name: 'a negative restart limit', config: { ...good, restart: { maxRestarts: -1 } }, path: 'restart.maxRestarts', reason: /from 0 to 1000000/ },
  { name: 'an unknown restart field', config: { ...good, restart: { retries: 3 } }, path: 'restart.retries', reason: /not a known field .*maxRestarts/ },
  { name: 'an unknown watchdog field', config: { ...good, watchdog: { hangMs: 100 } }, path: 'watchdog.hangMs', reason: /not a known field .*hangCpuMs/ },
  { name: 'more sockets than a table has slots', config: { ...good, limits: { maxSockets: 65537 } }, path: 'limits.maxSockets', reason: /from 1 to 65536/ },
  { name: 'a socket table over 8 GiB', config: { ...good, limits: { maxSockets: 20000 }, tcp: { sendBufferBytes: 4 << 20, receiveBufferBytes: 4 << 20 } }, path: 'limits.maxSockets', reason: /20000 sockets x 8388608 bytes .* 156\.3 GiB, over the 8\.0 GiB/ },
  { name: 'monitor true (only false turns it off)', config: { ...good, replicas: 2, monitor: true }, path: 'monitor', reason: /must be false or an object, not true/ },
  { name: 'monitor hold time negative', config: { ...good, replicas: 2, monitor: { holdMs: -1 } }, path: 'monitor.holdMs', reason: /from 0 to 3600000/ },
  { name: 'monitor field typo', config: { ...good, replicas: 2, monitor: { minReplica: 1 } }, path: 'monitor.minReplica', reason: /not a known field/ },
  { name: 'vni outside vxlan', config: { interfaces: [{ ...good.interfaces[0], link: { type: 'udp', mode: 'dgram', local: '127.0.0.1:1', remote: '127.0.0.1:2', vni: 5 } }] }, path: 'interfaces[0].link.vni', reason: /only applies/ },
];

for (const c of bad) {
  test(`rejected: ${c.name}`, () => {
    const r = validateStackConfig(c.config);
    assert.equal(r.ok, false);
    if (r.ok) return;
    const hit = r.issues.find((i) => i.path === c.path);
    assert.ok(hit, `expected an issue at ${c.path}, got ${JSON.stringify(r.issues)}`);
    assert.match(hit.reason, c.reason);
  });
}

test('the replica monitor: false turns it off, an object bounds it', () => {
  const off = validateStackConfig({ ...good, replicas: 4, monitor: false });
  assert.ok(off.ok);
  assert.equal(off.config.monitor, false);
  const bounded = validateStackConfig({ ...good, replicas: 4, monitor: { minReplicas: 2, holdMs: 500 } });
  assert.ok(bounded.ok);
  assert.deepEqual(bounded.config.monitor, { minReplicas: 2, holdMs: 500 });
});

test('path MTU settings are accepted', () => {
  const r = validateStackConfig({ ...good, pmtu: { expiresMs: 60_000, minMtu: 576 }, tcp: { pathMtuDiscovery: false } });
  assert.ok(r.ok);
  assert.deepEqual(r.config.pmtu, { expiresMs: 60_000, minMtu: 576 });
  assert.equal(r.config.tcp?.pathMtuDiscovery, false);
});

test('every issue is reported, not only the first', () => {
  const r = validateStackConfig({ interfaces: [{ name: '9bad', link: { type: 'tap', device: 'tap0' }, addresses: ['x'], mtu: 1 }], replicas: 0 });
  assert.equal(r.ok, false);
  if (!r.ok) assert.deepEqual(r.issues.map((i) => i.path).sort(), ['interfaces[0].addresses[0]', 'interfaces[0].mtu', 'interfaces[0].name', 'replicas']);
});

test('file errors name the line and column of the field', () => {
  const text = '{\n  "interfaces": [\n    {\n      "name": "eth0",\n      "link": { "type": "vswitch", "switch": "sw0" },\n      "mtu": 99999,\n      "addresses": []\n    }\n  ]\n}\n';
  const r = parseStackConfig(text);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.issues.length, 1);
  assert.equal(r.issues[0]!.path, 'interfaces[0].mtu');
  assert.deepEqual(r.issues[0]!.position, { line: 6, column: 14 });
});

test('a missing field points at its enclosing object', () => {
  const r = parseStackConfig('{\n "interfaces": [\n  { "name": "eth0", "addresses": [] }\n ]\n}');
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.issues[0]!.path, 'interfaces[0].link');
  assert.deepEqual(r.issues[0]!.position, { line: 3, column: 3 });
});

test('JSON syntax errors carry a position and never throw', () => {
  const r = parseStackConfig('{\n  "interfaces": [,]\n}');
  assert.equal(r.ok, false);
  if (!r.ok) assert.deepEqual(r.issues[0]!.position, { line: 2, column: 18 });
  fc.assert(fc.property(fc.string({ maxLength: 60 }), (s) => { parseLocatedJson(s); }), { numRuns: 3000 });
});

test('located JSON agrees with JSON.parse on valid documents', () => {
  fc.assert(fc.property(fc.jsonValue(), (v) => {
    const text = JSON.stringify(v, null, 1);
    const r = parseLocatedJson(text);
    assert.ok(r.ok);
    assert.deepEqual(r.value, JSON.parse(text));
  }), { numRuns: 500 });
});

test('loadStackConfigFile throws ERR_NEWTOS_CONFIG with file:line:col', () => {
  const dir = mkdtempSync(join(tmpdir(), 'newtos-config-'));
  const file = join(dir, 'host.json');
  writeFileSync(file, '{ "interfaces": [ { "name": "eth0", "link": { "type": "tap", "device": "tap0" }, "addresses": ["1.2.3.4/40"] } ] }');
  assert.throws(() => loadStackConfigFile(file), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'ERR_NEWTOS_CONFIG');
    assert.match(e.message, /host\.json:1:\d+: interfaces\[0\]\.addresses\[0\]: must be an IPv4 prefix/);
    return true;
  });
  assert.throws(() => loadStackConfigFile(join(dir, 'missing.json')), { code: 'ERR_NEWTOS_CONFIG' });
  assert.throws(() => checkStackConfig({}), { code: 'ERR_NEWTOS_CONFIG' });
});

test('parseIpv4 accepts only dotted quads', () => {
  assert.equal(parseIpv4('255.255.255.255'), 0xffffffff);
  for (const s of ['1.2.3', '01.2.3.4', '1.2.3.4.5', '256.0.0.1', ' 1.2.3.4', '1.2.3.-4']) assert.equal(parseIpv4(s), undefined, s);
});
