// The rig itself: two namespaces joined by a veth pair can ping each other, and
// cleanup leaves nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rig, requireRoot, run } from './netns.js';

test('rig: veth between two namespaces carries ping, cleanup removes everything', async (t) => {
  if (!requireRoot(t, ['ping'])) return;
  const rig = new Rig();
  try {
    const left = await rig.netns();
    const right = await rig.netns();
    const pair = await rig.veth(left, right);
    await rig.addr(left, pair.a, '10.77.0.1/24');
    await rig.addr(right, pair.b, '10.77.0.2/24');
    await rig.up(left, pair.a);
    await rig.up(right, pair.b);
    const ping = await rig.exec(left, ['ping', '-c', '1', '-W', '2', '10.77.0.2'], { allowFailure: true });
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    const lonely = await rig.veth();
    const links = await run(['ip', '-o', 'link', 'show']);
    assert.ok(links.stdout.includes(lonely.a), 'root-namespace veth exists before cleanup');
  } finally {
    const { namespaces, links } = rig.owned();
    rig.cleanup();
    const nsList = await run(['ip', 'netns', 'list']);
    for (const ns of namespaces) assert.ok(!nsList.stdout.includes(ns), `${ns} removed`);
    const linkList = await run(['ip', '-o', 'link', 'show']);
    for (const link of links) assert.ok(!linkList.stdout.includes(link), `${link} removed`);
  }
});

test('rig: link names fit IFNAMSIZ and are unique', () => {
  const rig = new Rig();
  const names = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const name = rig.linkName('nv');
    assert.ok(name.length <= 15, name);
    names.add(name);
  }
  assert.equal(names.size, 40);
});
