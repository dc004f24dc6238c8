// Servers moved between threads against Linux over TAP (issue 15): a newtos host placed
// isolated on a TAP device whose kernel end sits in a namespace of the test's own, python3
// there sending 16 MB to newtos while newtos sends 16 MB back, an idle connection beside them;
// the host's servers move to the grouped placement and back mid-transfer (the driver among
// them, its TAP device handed to the driver's next generation). Both transfers arrive intact
// (sha256 on both ends), no application sees an error or a close, the idle connection still
// echoes, no restart is counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { until } from '../support/tcp-stream.js';
import { Rig } from '../support/netns.js';
import { finishBothWays, startBothWays, stop, tapHost, tapTestUnavailable, type BothWays, type TapHost } from '../support/linux-peer.js';

const SIZE = 16 * 1024 * 1024;
const skip = tapTestUnavailable(['python3']);

test(`against Linux over TAP: isolated → grouped → isolated mid-transfer, ${SIZE / 1048576} MB each way intact, no application sees it`, { skip: skip === '' ? false : skip, timeout: 120_000 }, async (t) => {
  const rig = new Rig();
  let host: TapHost | undefined;
  let py: BothWays['py'] | undefined;
  try {
    host = await tapHost(rig, 'regroup-tap', { config: { placement: 'isolated', filter: 'default allow\nallow' } });
    const stack = host.stack;
    const b = await startBothWays(host, SIZE, (p) => { py = p; });
    assert.ok(await until(() => b.ours.received > SIZE / 8, 60_000), 'some of the transfer before the move');
    const t0 = performance.now();
    const there = await stack.regroup('grouped');
    assert.equal(stack.supervisor.threads().length, 2);
    assert.ok(await until(() => b.ours.received > SIZE / 2, 60_000), 'the transfer goes on grouped');
    const back = await stack.regroup('isolated');
    assert.equal(stack.supervisor.threads().length, 6);
    const linuxGap = await finishBothWays(b, 90_000);
    assert.deepEqual(Object.values(stack.snapshot().servers.map((s) => s.restarts)).filter((n) => n > 0), [], 'no restart counted');
    for (const s of stack.supervisor.serverNames()) assert.equal(stack.supervisor.generation(s), 3, `${s} moved twice`);
    t.diagnostic(`servers paused ${there.pauseMs.toFixed(1)} ms (→ grouped) and ${back.pauseMs.toFixed(1)} ms (→ isolated); longest gap newtos receiving ${b.ours.gapAfter(t0).toFixed(1)} ms, Linux receiving ${linuxGap} ms`);
    b.ours.socket.destroy();
    b.echoServer.close();
  } finally {
    if (py !== undefined) await stop(py.child);
    await host?.stack.close();
    rig.cleanup();
  }
});
