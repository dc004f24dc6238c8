// A route's gateway must be on a link of the host: createStack's configuration check
// refuses one outside every local subnet (or outside the subnets of the interface the
// route names), with the field path, as Linux refuses `ip route add ... via` it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkStackConfig, validateStackConfig } from '../../src/config/stack-config.js';
import { createStack } from '../../src/stack/host.js';

const ifc = (name: string, address: string): object => ({ name, link: { type: 'vswitch', switch: 'sw0' }, addresses: [address] });

test('a gateway outside every local subnet is refused with routes[i].gateway', async () => {
  const cases: [object, string, RegExp][] = [
    [{ interfaces: [ifc('eth0', '10.0.0.2/24')], routes: [{ destination: '0.0.0.0/0', gateway: '10.0.1.1' }] },
      'routes[0].gateway', /10\.0\.1\.1 is outside every local subnet \(10\.0\.0\.2\/24\)/],
    [{ interfaces: [ifc('eth0', '10.0.0.2/24'), ifc('eth1', '10.2.0.2/24')], routes: [{ destination: '0.0.0.0/0', gateway: '10.2.0.1', interface: 'eth0' }] },
      'routes[0].gateway', /outside the subnets of eth0 \(10\.0\.0\.2\/24\)/],
    [{ interfaces: [ifc('eth0', '10.0.0.2/24')], routes: [{ destination: '10.5.0.0/16', gateway: '10.0.0.1' }, { destination: '0.0.0.0/0', gateway: '192.168.1.1' }] },
      'routes[1].gateway', /192\.168\.1\.1 is outside/],
  ];
  for (const [config, path, reason] of cases) {
    const r = validateStackConfig(config);
    assert.ok(!r.ok, JSON.stringify(config));
    assert.deepEqual(r.issues.map((i) => i.path), [path]);
    assert.match(r.issues[0]!.reason, reason);
    await assert.rejects(createStack(config), (e: Error & { code?: string }) => e.code === 'ERR_NEWTOS_CONFIG' && e.message.includes(`config: ${path}: `));
  }
});

test('gateways on a link are accepted: in any subnet of the host, or of the interface the route names', () => {
  checkStackConfig({ interfaces: [ifc('eth0', '10.0.0.2/24')], routes: [{ destination: '0.0.0.0/0', gateway: '10.0.0.1' }] });
  checkStackConfig({ interfaces: [ifc('eth0', '10.0.0.2/24'), ifc('eth1', '10.2.0.2/24')], routes: [{ destination: '0.0.0.0/0', gateway: '10.2.0.1' }] });
  checkStackConfig({ interfaces: [ifc('eth0', '10.0.0.2/24'), ifc('eth1', '10.2.0.2/24')], routes: [{ destination: '10.9.0.0/16', gateway: '10.2.0.9', interface: 'eth1' }] });
  checkStackConfig({ interfaces: [{ ...ifc('eth0', '10.0.0.2/24'), addresses: ['10.0.0.2/24', '172.16.0.2/12'] }], routes: [{ destination: '0.0.0.0/0', gateway: '172.31.255.1' }] });
});
