// Every server but TCP dies mid-transfer against Linux over TAP (issue 13; TCP's own
// crash and hang are in tcp-recovery.test.ts): a newtos host whose TAP device's kernel end
// sits in a namespace of the test's own, python3 there sending 16 MB to newtos while
// newtos sends 16 MB back, and an idle connection beside them. The driver, IP, PF or SOCK
// crashes, exits or hangs; both transfers must arrive intact (sha256 on both ends), no
// application may see an error or a close, the idle connection must still echo, and the
// server must have restarted exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FaultKind } from '../../src/substrate/server-loop.js';
import { until } from '../support/tcp-stream.js';
import { Rig } from '../support/netns.js';
import { finishBothWays, startBothWays, stop, tapHost, tapTestUnavailable, type BothWays, type TapHost } from '../support/linux-peer.js';

const SIZE = 16 * 1024 * 1024;
const skip = tapTestUnavailable(['python3']);

const CASES: [string, FaultKind][] = [
  ['driver', 'crash'], ['driver', 'exit'],
  ['ip', 'crash'], ['ip', 'exit'], ['ip', 'hang'],
  ['pf', 'crash'], ['pf', 'exit'], ['pf', 'hang'],
  ['sock', 'crash'], ['sock', 'exit'],
];

for (const [server, fault] of CASES) {
  test(`against Linux over TAP: ${server} ${fault === 'hang' ? 'hangs' : fault === 'exit' ? 'exits' : 'crashes'} mid-transfer, ${SIZE / 1048576} MB each way intact, no application sees it`, { skip: skip === '' ? false : skip, timeout: 120_000 }, async (t) => {
    const rig = new Rig();
    let host: TapHost | undefined;
    let py: BothWays['py'] | undefined;
    try {
      // One allow rule, so that PF is asked for every packet (a filter that decides nothing is skipped).
      host = await tapHost(rig, `faults-${server}-${fault}`, { config: { filter: 'default allow\nallow' } });
      const stack = host.stack;
      const b = await startBothWays(host, SIZE, (p) => { py = p; });
      assert.ok(await until(() => b.ours.received > SIZE / 8, 60_000), 'some of the transfer before the fault');
      const generation = stack.supervisor.generation(server) + 1;
      const faultAt = performance.now();
      stack.supervisor.inject(server, fault);
      await stack.supervisor.whenRunning(server, generation, 30_000);
      const linuxGap = await finishBothWays(b, 90_000);
      const restarts = stack.snapshot().servers.find((x) => x.name === server)!.restarts;
      assert.equal(restarts, 1, `${server} restarted once`);
      const rec = stack.supervisor.recoveries.find((r) => r.server === server)!;
      assert.equal(rec.cause, fault);
      t.diagnostic(`${server} ${fault}: restart ${(rec.runningAt - rec.downAt).toFixed(1)} ms; longest gap newtos receiving ${b.ours.gapAfter(faultAt).toFixed(1)} ms, Linux receiving ${linuxGap} ms`);
      b.ours.socket.destroy();
      b.echoServer.close();
    } finally {
      if (py !== undefined) await stop(py.child);
      await host?.stack.close();
      rig.cleanup();
    }
  });
}
