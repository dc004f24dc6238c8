// `newtos impair`: two namespaces ping each other through the bridge between two TAP
// devices; with loss 100 % nothing gets through; the counters come out as JSON on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { createRig, requireRoot } from '../support/netns.js';
import { runCli, startCli } from '../support/cli.js';

async function bridge(t: import('node:test').TestContext, flags: string[]): Promise<{ rig: ReturnType<typeof createRig>; nsA: string; stop: () => Promise<Record<string, { frames: number; lost: number; sent: number }>> }> {
  const rig = createRig(t);
  const children: ChildProcess[] = [];
  t.after(() => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); });
  const a = rig.linkName('ia');
  const b = rig.linkName('ib');
  const br = await startCli(['impair', '--tap', a, '--tap', b, ...flags], /up \(/, children);
  const nsA = await rig.netns();
  const nsB = await rig.netns();
  await rig.moveLink(a, nsA);
  await rig.moveLink(b, nsB);
  await rig.addr(nsA, a, '10.93.0.1/24');
  await rig.addr(nsB, b, '10.93.0.2/24');
  await rig.up(nsA, a);
  await rig.up(nsB, b);
  return {
    rig, nsA,
    stop: async () => {
      const exit = once(br.child, 'exit');
      br.child.kill('SIGTERM');
      const [code] = await exit as [number | null];
      assert.equal(code, 0);
      const line = br.output().trim().split('\n').pop()!;
      return JSON.parse(line) as Record<string, { frames: number; lost: number; sent: number }>;
    },
  };
}

test('two namespaces ping each other through `newtos impair` (delay 1 ms, reorder 20 %, seed 7)', { timeout: 60_000 }, async (t) => {
  if (!requireRoot(t, ['ping'])) return;
  const { rig, nsA, stop } = await bridge(t, ['--delay', '1', '--reorder', '20%', '--seed', '7']);
  const r = await rig.exec(nsA, ['ping', '-c', '5', '-i', '0.2', '-W', '2', '10.93.0.2'], { allowFailure: true, timeoutMs: 30_000 });
  assert.match(r.stdout, / 0% packet loss/, r.stdout + r.stderr);
  const stats = await stop();
  const dirs = Object.values(stats);
  assert.equal(dirs.length, 2);
  for (const d of dirs) assert.ok(d.frames >= 5 && d.sent >= 5, JSON.stringify(stats));
});

test('with --loss 100% nothing crosses the bridge, and every frame is counted lost', { timeout: 60_000 }, async (t) => {
  if (!requireRoot(t, ['ping'])) return;
  const { rig, nsA, stop } = await bridge(t, ['--loss', '100%']);
  const r = await rig.exec(nsA, ['ping', '-c', '3', '-i', '0.2', '-W', '1', '10.93.0.2'], { allowFailure: true, timeoutMs: 30_000 });
  assert.notEqual(r.code, 0);
  const stats = await stop();
  const total = Object.values(stats).reduce((s, d) => s + d.frames, 0);
  const lost = Object.values(stats).reduce((s, d) => s + d.lost, 0);
  assert.ok(total > 0 && lost === total, JSON.stringify(stats));
});

test('`newtos impair` refuses bad flags with the flag named (exit 2)', async () => {
  for (const [args, re] of [
    [['impair', '--tap', 'x'], /--tap' must be given twice/],
    [['impair', '--tap', 'x', '--tap', 'x'], /two different devices/],
    [['impair', '--tap', 'x', '--tap', 'y', '--reorder', '1.5'], /--reorder' must be a probability/],
    [['impair', '--tap', 'x', '--tap', 'y', '--rate', 'fast'], /--rate' must be a rate/],
    [['impair', '--tap', 'x', '--tap', 'y', '--delay=-3'], /--delay' must be a number/],
  ] as const) {
    const r = await runCli([...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, re);
  }
});
