// Every server but TCP dies mid-transfer against Linux over TAP (issue 13; TCP's own
// crash and hang are in tcp-recovery.test.ts): a newtos host whose TAP device's kernel end
// sits in a namespace of the test's own, python3 there sending 16 MB to newtos while
// newtos sends 16 MB back, and an idle connection beside them. The driver, IP, PF or SOCK
// crashes, exits or hangs; both transfers must arrive intact (sha256 on both ends), no
// application may see an error or a close, the idle connection must still echo, and the
// server must have restarted exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NetSocket } from '../../src/app/net-socket.js';
import type { FaultKind } from '../../src/substrate/server-loop.js';
import { Stream, listenOn, until, streamData } from '../support/tcp-stream.js';
import { Rig } from '../support/netns.js';
import { pythonBothWays, startIn, stop, tapHost, tapTestUnavailable, type TapHost } from '../support/linux-peer.js';

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
    let py: Awaited<ReturnType<typeof startIn>> | undefined;
    try {
      // One allow rule, so that PF is asked for every packet (a filter that decides nothing is skipped).
      host = await tapHost(rig, `faults-${server}-${fault}`, { config: { filter: 'default allow\nallow' } });
      const stack = host.stack;
      const toLinux = streamData(SIZE);
      const echoServer = stack.net.createServer((s: NetSocket) => s.pipe(s));
      await new Promise<void>((resolve) => echoServer.listen(7, resolve));
      const idleSide: Stream[] = [];
      echoServer.on('connection', (s: NetSocket) => idleSide.push(new Stream(s, Infinity)));
      const accepted = listenOn(stack, 9);
      py = await startIn(host.ns, ['python3', '-u', '-c', pythonBothWays(host.newtosIp, 9, 7, SIZE)], /^sent /m, 30_000);
      const ours = new Stream(await accepted, SIZE);
      ours.send(toLinux.bytes);
      assert.ok(await until(() => ours.received > SIZE / 8, 60_000), 'some of the transfer before the fault');
      const generation = stack.supervisor.generation(server) + 1;
      const faultAt = performance.now();
      stack.supervisor.inject(server, fault);
      await stack.supervisor.whenRunning(server, generation, 30_000);
      const got = await ours.within(90_000);
      const sent = /^sent ([0-9a-f]{64})/m.exec(py.output())![1];
      assert.equal(got.sha256, sent, 'Linux → newtos intact');
      assert.ok(await until(() => /^echo /m.test(py!.output()), 90_000), `Linux finished: ${py.output()}`);
      const recv = /^recv ([0-9a-f]{64}) (\d+) ([\d.]+)/m.exec(py.output());
      assert.ok(recv !== null, py.output());
      assert.equal(recv[1], toLinux.sha256, 'newtos → Linux intact');
      assert.match(py.output(), /^echo still there\?$/m, 'the idle connection carries on');
      assert.doesNotMatch(py.output(), /Error|Traceback/);
      for (const s of [ours, ...idleSide]) assert.deepEqual(s.events, [], 'no error or close seen by the newtos application');
      const restarts = stack.snapshot().servers.find((x) => x.name === server)!.restarts;
      assert.equal(restarts, 1, `${server} restarted once`);
      const rec = stack.supervisor.recoveries.find((r) => r.server === server)!;
      assert.equal(rec.cause, fault);
      t.diagnostic(`${server} ${fault}: restart ${(rec.runningAt - rec.downAt).toFixed(1)} ms; longest gap newtos receiving ${ours.gapAfter(faultAt).toFixed(1)} ms, Linux receiving ${recv[3]} ms`);
      ours.socket.destroy();
      echoServer.close();
    } finally {
      if (py !== undefined) await stop(py.child);
      await host?.stack.close();
      rig.cleanup();
    }
  });
}
