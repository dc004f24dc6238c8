// The TAP waker: a helper thread blocked in poll(2) on the TAP fd rings the
// owner's doorbell when the kernel sends a frame; the owner still reads the
// frames itself. Needs root (a TAP device in a namespace the test makes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { contiguousSlots } from '../../../src/driver/nic/backend.js';
import { TapBackend, loadTapAddon } from '../../../src/driver/nic/tap.js';
import { DoorbellSleeper, createDoorbell } from '../../../src/substrate/doorbell.js';
import { createRig, requireRoot } from '../../support/netns.js';

function addonMissing(): string {
  try { loadTapAddon(); return ''; } catch (e) { return (e as Error).message; }
}

test('tap waker: an idle owner parks on its doorbell and is woken by the kernel\'s frame; no ringing while idle', async (t) => {
  if (!requireRoot(t, ['ping'])) return;
  const missing = addonMissing();
  if (missing !== '') { t.skip(`needs the TAP addon: ${missing}`); return; }
  const rig = createRig(t);
  const bell = createDoorbell();
  const tap = TapBackend.open({ name: rig.linkName('ntw') });
  rig.adoptRootLink(tap.name);
  t.after(() => tap.close());
  assert.equal(tap.nextDueMs, undefined, 'no waker yet: the device can only be polled');
  await tap.startWaker(bell);
  const ns = await rig.netns();
  await rig.moveLink(tap.name, ns);
  // No IPv6 on the link: only the frames this test causes (the kernel's ARP).
  await rig.exec(ns, ['sysctl', '-q', '-w', `net.ipv6.conf.${tap.name}.disable_ipv6=1`]);
  await rig.addr(ns, tap.name, '10.206.0.1/24');
  await rig.up(ns, tap.name, 'arp', 'on');
  const slots = contiguousSlots(new Uint8Array(new SharedArrayBuffer(32 * 2048)), 32, 2048);
  // Drain what bringing the link up produced (IPv6 router solicitations and such), then wait idle.
  await sleep(300);
  while (tap.receive(slots, 32) > 0) { /* drain */ }

  const sleeper = new DoorbellSleeper(bell);
  // Asked without `aboutToPark` (the driver's pollAt, on every pass): nothing is armed, so
  // a frame the kernel sends now rings nobody; the owner sees it by looking.
  assert.equal(tap.nextDueMs!(), Infinity);
  const unarmedRings = tap.wakerRings;
  // One frame and no ARP: a neighbour entry the kernel need not resolve.
  await rig.exec(ns, ['ip', 'neigh', 'add', '10.206.0.3', 'lladdr', '02:00:00:00:00:03', 'dev', tap.name, 'nud', 'permanent']);
  await rig.exec(ns, ['ping', '-c', '1', '-W', '0.2', '10.206.0.3'], { allowFailure: true });
  await sleep(100);
  assert.equal(tap.wakerRings, unarmedRings, 'not armed: the frame rang nobody');
  assert.equal(tap.nextDueMs!(), 0, 'the frame is there for the owner to look at');
  while (tap.receive(slots, 32) > 0) { /* drain it */ }

  // About to park: the waker is armed.
  const idle = (): boolean => tap.nextDueMs!(true) === Infinity;
  assert.ok(idle(), 'nothing waiting: the waker is armed');
  const ringsBefore = tap.wakerRings;
  await sleep(400);
  assert.equal(tap.wakerRings, ringsBefore, 'no frame, no ring');

  // The kernel ARPs for an address on the link: the waker rings us.
  const parked = sleeper.parkAsync(5000, idle);
  const ping = rig.exec(ns, ['ping', '-c', '1', '-W', '1', '10.206.0.2'], { allowFailure: true });
  assert.equal(await parked, 'woken');
  assert.equal(tap.nextDueMs!(true), 0, 'a frame is waiting');
  const n = tap.receive(slots, 32);
  assert.ok(n >= 1);
  const arp = Array.from({ length: n }, (_, i) => slots.memory.subarray(slots.offsets[i]!, slots.offsets[i]! + slots.lengths[i]!))
    .some((f) => f[12] === 0x08 && f[13] === 0x06);
  assert.ok(arp, 'the frame that woke us is the kernel\'s ARP request');
  assert.equal(tap.wakerRings, ringsBefore + 1);
  await ping;
});

test('tap waker in the stack: an idle driver with a TAP device parks instead of polling it every millisecond', async (t) => {
  if (!requireRoot(t)) return;
  const missing = addonMissing();
  if (missing !== '') { t.skip(`needs the TAP addon: ${missing}`); return; }
  const rig = createRig(t);
  const dev = rig.linkName('ntw');
  const { createStack } = await import('../../../src/stack/host.js');
  const stack = await createStack({ interfaces: [{ name: 'eth0', link: { type: 'tap', device: dev }, addresses: ['10.207.0.2/24'] }] });
  rig.adoptRootLink(dev);
  t.after(() => stack.close());
  await sleep(200);
  const parks = (): number => stack.snapshot().servers.find((s) => s.name === 'driver')!.parks;
  const before = parks();
  await sleep(500);
  // The loop's longest park is 50 ms: ~10 parks; polling the device every 1 ms: ~400-500.
  const n = parks() - before;
  assert.ok(n < 60, `the idle driver parked ${n} times in 500 ms`);
});
