// The host flags of `newtos up` and `newtos ping`: what configuration they make,
// and the flag named in every refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostConfigFromFlags, type HostFlagValues } from '../../src/cli/host-flags.js';
import { NewtosError } from '../../src/errors.js';

const udp = { udp: '127.0.0.1:5555', remote: '127.0.0.1:5556', ip: '10.0.0.2/24' };

test('host flags make the configuration of one host', () => {
  const cases: [string, HostFlagValues, unknown][] = [
    ['TAP', { tap: 'tap0', ip: '10.0.0.2/24' }, { link: { type: 'tap', device: 'tap0' } }],
    ['UDP, QEMU dgram by default', udp, { link: { type: 'udp', mode: 'dgram', local: '127.0.0.1:5555', remote: '127.0.0.1:5556' } }],
    ['QEMU stream', { ...udp, mode: 'stream' }, { link: { type: 'udp', mode: 'stream', local: '127.0.0.1:5555', remote: '127.0.0.1:5556' } }],
    ['VXLAN with a VNI', { ...udp, mode: 'vxlan', vni: '42' }, { link: { type: 'udp', mode: 'vxlan', local: '127.0.0.1:5555', remote: '127.0.0.1:5556', vni: 42 } }],
  ];
  for (const [name, flags, want] of cases) {
    const c = hostConfigFromFlags(flags, 'h') as { name: string; interfaces: { link: unknown; addresses: string[] }[] };
    assert.equal(c.name, 'h', name);
    assert.deepEqual(c.interfaces[0]!.link, (want as { link: unknown }).link, name);
    assert.deepEqual(c.interfaces[0]!.addresses, [flags.ip], name);
  }
  // --cc: the TCP congestion control.
  const bbr = hostConfigFromFlags({ tap: 'tap0', ip: '10.0.0.2/24', cc: 'bbr' }, 'h') as { tcp?: { congestionControl?: string } };
  assert.equal(bbr.tcp?.congestionControl, 'bbr');
  // --offload: off drops a TAP's virtio-net header and the link's checksum offload; on keeps both.
  const off = hostConfigFromFlags({ tap: 'tap0', ip: '10.0.0.2/24', offload: 'off' }, 'h') as { interfaces: Record<string, unknown>[] };
  assert.deepEqual(off.interfaces[0]!['link'], { type: 'tap', device: 'tap0', vnetHeader: false });
  assert.equal(off.interfaces[0]!['checksumOffload'], false);
  const on = hostConfigFromFlags({ tap: 'tap0', ip: '10.0.0.2/24', offload: 'on' }, 'h') as { interfaces: Record<string, unknown>[] };
  assert.deepEqual(on.interfaces[0]!['link'], { type: 'tap', device: 'tap0' });
  assert.equal(on.interfaces[0]!['checksumOffload'], true);
  const full = hostConfigFromFlags({ ...udp, gw: '10.0.0.1', mtu: '9000', placement: 'monolithic' }, 'h') as Record<string, unknown>;
  assert.deepEqual(full['routes'], [{ destination: '0.0.0.0/0', gateway: '10.0.0.1' }]);
  assert.equal(full['placement'], 'monolithic');
  assert.equal((full['interfaces'] as { mtu: number }[])[0]!.mtu, 9000);
});

test('host flags are refused with ERR_INVALID_ARG_VALUE naming the flag', () => {
  const cases: [HostFlagValues, RegExp][] = [
    [{ ip: '10.0.0.2/24' }, /needs a link: --tap DEV, or --udp/],
    [{ tap: 'tap0', udp: '127.0.0.1:1', ip: '10.0.0.2/24' }, /not both/],
    [{ tap: 'tap0' }, /needs an address: --ip/],
    [{ tap: 'tap0', ip: '10.0.0.2/24', remote: '127.0.0.1:1' }, /--remote belongs to a --udp link/],
    [{ tap: 'tap0', ip: '10.0.0.2/24', vni: '1' }, /--vni belongs to a --udp link/],
    [{ udp: '127.0.0.1:1', ip: '10.0.0.2/24' }, /--udp needs --remote/],
    [{ ...udp, mode: 'gre' }, /--mode must be dgram, stream or vxlan, not 'gre'/],
    [{ ...udp, vni: '7' }, /--vni only applies to --mode vxlan/],
    [{ ...udp, mode: 'vxlan' }, /--mode vxlan needs --vni N/],
    [{ ...udp, mode: 'vxlan', vni: '16777216' }, /--vni must be an integer from 0 to 16777215/],
    [{ ...udp, mtu: '1500.5' }, /--mtu must be an integer/],
    [{ ...udp, mtu: '70000' }, /^--mtu: /],
    [{ ...udp, remote: 'nowhere' }, /^--remote: .*'nowhere'/],
    [{ ...udp, udp: '127.0.0.1:99999' }, /^--udp: /],
    [{ ...udp, ip: '10.0.0.2/33' }, /^--ip: /],
    [{ ...udp, gw: '10.0.0' }, /^--gw: /],
    [{ ...udp, placement: 'everywhere' }, /^--placement: /],
    [{ ...udp, gw: '10.0.1.1' }, /^--gw: 10\.0\.1\.1 is outside every local subnet/],
    [{ ...udp, offload: 'yes' }, /--offload must be on or off, not 'yes'/],
    [{ ...udp, offload: 'on' }, /--offload on needs a --tap link/],
    [{ ...udp, cc: 'vegas' }, /^--cc: must be one of 'cubic', 'newreno', 'bbr', not 'vegas'/],
  ];
  for (const [flags, message] of cases) {
    assert.throws(() => hostConfigFromFlags(flags, 'h'), (e: unknown) => e instanceof NewtosError && e.code === 'ERR_INVALID_ARG_VALUE' && message.test(e.message), JSON.stringify(flags));
  }
});
