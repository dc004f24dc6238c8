// The TAP waker: a helper thread blocked in poll(2) on the TAP fd rings the
// owner's doorbell when the kernel sends a frame; the owner still reads the
// frames itself. Needs root (a TAP device in a namespace the test makes).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { contiguousSlots } from '../../../src/driver/nic/backend.js';
import { TapBackend, loadTapAddon } from '../../../src/driver/nic/tap.js';
import { DoorbellSleeper, createDoorbell } from '../../../src/substrate/doorbell.js';
import { BELL_SLEEPING } from '../../../src/substrate/layout.js';
import { createRig, requireRoot } from '../../support/netns.js';

function addonMissing(): string {
  try { loadTapAddon(); return ''; } catch (e) { return (e as Error).message; }
}

/** A TAP device this test owns (root, the addon), or undefined when the test skipped. */
function testTap(t: TestContext, prefix: string): { rig: ReturnType<typeof createRig>; bell: SharedArrayBuffer; tap: TapBackend } | undefined {
  if (!requireRoot(t, ['ping'])) return undefined;
  const missing = addonMissing();
  if (missing !== '') { t.skip(`needs the TAP addon: ${missing}`); return undefined; }
  const rig = createRig(t);
  const bell = createDoorbell();
  const tap = TapBackend.open({ name: rig.linkName(prefix) });
  rig.adoptRootLink(tap.name);
  t.after(() => tap.close());
  return { rig, bell, tap };
}

/** Moves the test's TAP into a namespace of its own, address `addr`, without IPv6 (only the frames the test causes). */
async function tapInNamespace(rig: ReturnType<typeof createRig>, tap: TapBackend, addr: string): Promise<string> {
  const ns = await rig.netns();
  await rig.moveLink(tap.name, ns);
  await rig.exec(ns, ['sysctl', '-q', '-w', `net.ipv6.conf.${tap.name}.disable_ipv6=1`]);
  await rig.addr(ns, tap.name, addr);
  await rig.up(ns, tap.name, 'arp', 'on');
  return ns;
}

test('tap waker: an idle owner parks on its doorbell and is woken by the kernel\'s frame; no ringing while idle', async (t) => {
  const own = testTap(t, 'ntw');
  if (own === undefined) return;
  const { rig, bell, tap } = own;
  assert.equal(tap.nextDueMs, undefined, 'no waker yet: the device can only be polled');
  await tap.startWaker(bell);
  const ns = await tapInNamespace(rig, tap, '10.206.0.1/24');
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

// Without a waker: the owner's thread sleeps in poll(2) on the device and the doorbell's
// eventfd (TapBackend.sleepBeside), so the kernel's frame wakes it directly and a ring from
// another thread through the eventfd.
test('tap: an owner sleeping beside its device is woken by the kernel\'s frame and by a ring, with no waker thread', async (t) => {
  const own = testTap(t, 'ntb');
  if (own === undefined) return;
  const { rig, bell, tap } = own;
  const sleeper = new DoorbellSleeper(bell);
  const wake = tap.wakeEventFd();
  assert.ok(wake >= 0);
  assert.equal(tap.wakeEventFd(), wake, 'one eventfd per device handle');
  assert.equal(tap.sleepBeside((w, fd) => sleeper.sleepBeside(w, fd), wake), true);
  assert.equal(tap.sleepBeside((w, fd) => sleeper.sleepBeside(w, fd), wake), false, 'once');
  assert.equal(tap.wakerRings, 0);
  const ns = await tapInNamespace(rig, tap, '10.208.0.1/24');
  const slots = contiguousSlots(new Uint8Array(new SharedArrayBuffer(32 * 2048)), 32, 2048);
  await sleep(300);
  while (tap.receive(slots, 32) > 0) { /* drain */ }
  // About to park the owner does not look (the park's poll(2) does): always idle to the loop.
  const idle = (): boolean => tap.nextDueMs!(true) === Infinity;
  assert.ok(idle());
  assert.equal(sleeper.park(30, idle), 'timed-out', 'no frame, no ring');

  // The kernel ARPs for an address on the link: poll(2) on the device returns. The park blocks
  // this thread, so the ping runs from a child process started first.
  const ping = rig.exec(ns, ['ping', '-c', '1', '-W', '1', '10.208.0.2'], { allowFailure: true });
  let woke: string = 'not-parked';
  for (let i = 0; i < 50 && woke !== 'woken'; i++) {
    woke = sleeper.park(100, idle);
    if (woke !== 'woken') await sleep(20);
  }
  assert.equal(woke, 'woken');
  await sleep(1); // past LOOK_EVERY_MS since the last look
  assert.equal(tap.nextDueMs!(), 0, 'a frame is waiting (a pass that does not park looks)');
  assert.equal(tap.nextDueMs!(), Infinity, 'and looks again only after LOOK_EVERY_MS');
  const n = tap.receive(slots, 32);
  assert.ok(Array.from({ length: n }, (_, i) => slots.memory.subarray(slots.offsets[i]!, slots.offsets[i]! + slots.lengths[i]!))
    .some((f) => f[12] === 0x08 && f[13] === 0x06), 'the kernel\'s ARP request');
  await ping;
  while (tap.receive(slots, 32) > 0) { /* drain the rest */ }

  // A ring from another thread wakes it through the eventfd.
  const { Worker } = await import('node:worker_threads');
  const ringer = new Worker(`
    const { workerData } = require('node:worker_threads');
    const w = new Int32Array(workerData.bell);
    import(workerData.doorbell).then(({ DoorbellRinger }) => {
      while (Atomics.load(w, ${BELL_SLEEPING}) === 0) { /* wait for the sleeper */ }
      new DoorbellRinger(workerData.bell).ring();
    });`, { eval: true, workerData: { bell, doorbell: new URL('../../../src/substrate/doorbell.js', import.meta.url).href } });
  t.after(() => ringer.terminate());
  assert.equal(sleeper.park(10_000, idle), 'woken');
  assert.equal(tap.wakerRings, 0, 'no waker thread rang');
});

test('tap in the stack: an idle driver with a TAP device parks instead of polling it every millisecond', async (t) => {
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
