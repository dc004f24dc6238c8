// TCP connections survive a crash or a hang of the TCP server (issue 13): the
// successor resumes every connection from its checkpoint in the socket table
// (src/tcp/checkpoint.ts) on the same rings, and the applications notice nothing.
// Two hosts on the virtual switch; host a's TCP server dies while one connection
// carries several MB in both directions (a accepted it) and another (a opened it)
// sits idle. Then a connection whose processing crashes the server twice in a row
// is reset alone while another carries on.
//
// NEWTOS_RECOVERY_VERBOSE=1 prints the gap without goodput the restart caused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../../src/stack/host.js';
import type { NetSocket } from '../../src/app/net-socket.js';
import type { FaultKind } from '../../src/substrate/server-loop.js';
import { Stream, listenOn, connectTo, echoOnce, until, streamData, describeConnections, nonzeroCounters } from '../support/tcp-stream.js';
import { Rig } from '../support/netns.js';
import { finishBothWays, startBothWays, stop, tapHost, tapTestUnavailable, type BothWays, type TapHost } from '../support/linux-peer.js';

const SIZE = 8 * 1024 * 1024;
/** Over TAP the transfer is faster: more bytes, so that the fault comes in the middle of it. */
const LINUX_SIZE = 32 * 1024 * 1024;

async function twoHosts(): Promise<[Stack, Stack]> {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const host = (name: string, ip: string): Promise<Stack> => createStack({
    name, interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
  }, { switches: { sw0: sw } });
  return [await host('a', '10.0.0.1/24'), await host('b', '10.0.0.2/24')];
}

/** performance.now() when the TCP server's successor (generation 2) says it runs. */
function successorRunning(s: Stack): () => number {
  let at = NaN;
  s.supervisor.on('event', (e: { type: string; server?: string; generation?: number }) => {
    if (e.type === 'running' && e.server === 'tcp' && e.generation === 2) at = performance.now();
  });
  return () => at;
}

const tcpRestarts = (s: Stack): number => s.snapshot().servers.find((x) => x.name === 'tcp')!.restarts;

/** What each successor of the TCP server logged about the connections it found. */
function restoredLog(s: Stack): { connections: unknown; reset: unknown }[] {
  return s.supervisor.events.filter((e) => e.type === 'log' && e.server === 'tcp' && e.detail?.['event'] === 'restored')
    .map((e) => ({ connections: e.detail!['connections'], reset: e.detail!['reset'] }));
}

for (const fault of ['crash', 'hang'] as FaultKind[]) {
  test(`TCP ${fault === 'crash' ? 'crashes' : 'hangs'} mid-transfer: ${SIZE / 1048576} MB each way arrive intact, no socket sees an error or a close, the idle connection carries on, one restart`, { timeout: 120_000 }, async (t) => {
    const [a, b] = await twoHosts();
    try {
      const toB = streamData(SIZE);
      const toA = streamData(SIZE);
      // The bulk connection: b connects to a; each side sends its data and collects the other's.
      const accepted = listenOn(a, 9);
      const bSide = new Stream(await connectTo(b, '10.0.0.1', 9), SIZE);
      const aSide = new Stream(await accepted, SIZE);
      // The idle connection: a connects out to an echo server on b.
      const echoServer = b.net.createServer((s: NetSocket) => s.pipe(s));
      await new Promise<void>((resolve) => echoServer.listen(7, resolve));
      const idle = new Stream(await connectTo(a, '10.0.0.2', 7), Infinity);
      // The last MB of each direction is written only after the fault: it can only reach
      // the other side through a's successor (the rest may all be in flight or in rings).
      const held = SIZE - 1024 * 1024;
      aSide.send(toB.bytes.subarray(0, held));
      bSide.send(toA.bytes.subarray(0, held));
      assert.ok(await until(() => aSide.received > SIZE / 4 && bSide.received > SIZE / 4, 60_000), 'a quarter of each transfer before the fault');
      const runningAt = successorRunning(a);
      const faultAt = performance.now();
      a.supervisor.inject('tcp', fault);
      aSide.send(toB.bytes.subarray(held));
      bSide.send(toA.bytes.subarray(held));
      const [gotA, gotB] = await Promise.all([aSide.within(60_000), bSide.within(60_000)])
        .catch((e: Error) => { throw new Error(`${e.message}\n${describeConnections(a)}\n${describeConnections(b)}\n${nonzeroCounters(a)}\n${nonzeroCounters(b)}\nrestored: ${JSON.stringify(restoredLog(a))}`); });
      assert.equal(gotA.sha256, toA.sha256, 'b → a intact');
      assert.equal(gotB.sha256, toB.sha256, 'a → b intact');
      for (const side of [aSide, bSide]) assert.ok(side.arrivals.some((x) => x > runningAt()), 'the fault came mid-transfer: data arrived after the successor ran');
      assert.equal(await echoOnce(idle, 'still there?'), 'still there?', 'the idle connection carries on');
      for (const s of [aSide, bSide, idle]) assert.deepEqual(s.events, [], 'no error or close seen by an application');
      assert.equal(tcpRestarts(a), 1, 'exactly one restart');
      assert.equal(tcpRestarts(b), 0);
      assert.deepEqual(restoredLog(a), [{ connections: 2, reset: [] }], 'the successor resumed both connections');
      const gap = Math.max(aSide.gapAfter(faultAt), bSide.gapAfter(faultAt));
      const restart = a.supervisor.recoveries.map((r) => r.recoveryMs.toFixed(1)).join(', ');
      t.diagnostic(`${fault}: longest gap without goodput after the fault ${gap.toFixed(1)} ms (a receiving ${aSide.gapAfter(faultAt).toFixed(1)}, b receiving ${bSide.gapAfter(faultAt).toFixed(1)}); death to the successor's first message ${restart} ms`);
      if (process.env['NEWTOS_RECOVERY_VERBOSE'] === '1') console.log(`tcp ${fault}: gap ${gap.toFixed(1)} ms`);
      for (const s of [aSide, bSide, idle]) s.socket.destroy();
      echoServer.close();
    } finally {
      await b.close();
      await a.close();
    }
  });
}

test('a connection in hand when TCP crashes twice in a row is reset alone (ECONNRESET on both hosts); another connection carries on', { timeout: 120_000 }, async () => {
  const [a, b] = await twoHosts();
  try {
    const echoServer = a.net.createServer((s: NetSocket) => s.pipe(s));
    await new Promise<void>((resolve) => echoServer.listen(7, resolve));
    const aSockets: NetSocket[] = [];
    const aErrors: string[] = [];
    echoServer.on('connection', (s: NetSocket) => {
      aSockets.push(s);
      s.on('error', (e: Error & { code?: string }) => aErrors.push(e.code ?? e.message));
    });
    const poisoned = new Stream(await connectTo(b, '10.0.0.1', 7), Infinity);
    const healthy = new Stream(await connectTo(b, '10.0.0.1', 7), Infinity);
    const port = poisoned.socket.localPort!;
    for (let round = 1; round <= 2; round++) {
      // The fault fires as a's TCP server starts on a segment of the poisoned connection.
      a.supervisor.inject('tcp', 'crash', { port });
      poisoned.socket.write(`round ${round}`);
      await a.supervisor.whenRunning('tcp', round + 1, 20_000);
      assert.equal(await echoOnce(healthy, `healthy after ${round}`), `healthy after ${round}`);
      // Resumed after the first crash: the write that crashed the server comes back.
      if (round === 1) assert.ok(await until(() => poisoned.text.includes('round 1'), 10_000), `poisoned after one crash: ${JSON.stringify(poisoned.text)} ${JSON.stringify(poisoned.events)}`);
    }
    // After the first crash it was resumed; after the second it is reset.
    assert.ok(await until(() => poisoned.events.includes('error:ECONNRESET'), 10_000), `poisoned: ${JSON.stringify(poisoned.events)}`);
    assert.ok(await until(() => aErrors.includes('ECONNRESET'), 10_000), `a side: ${JSON.stringify(aErrors)}`);
    assert.equal(aErrors.length, 1, 'only the poisoned connection fails on host a');
    assert.deepEqual(healthy.events, []);
    assert.equal(await echoOnce(healthy, 'and on'), 'and on');
    assert.equal(tcpRestarts(a), 2);
    const log = restoredLog(a);
    assert.equal(log.length, 2);
    assert.deepEqual(log[0], { connections: 2, reset: [] });
    assert.equal(log[1]!.connections, 1);
    assert.match(JSON.stringify(log[1]!.reset), /in hand when the TCP server died 2 times in a row/);
    healthy.socket.destroy();
    echoServer.close();
  } finally {
    await b.close();
    await a.close();
  }
});

const linuxSkip = tapTestUnavailable(['python3']);

for (const fault of ['crash', 'hang'] as FaultKind[]) {
  test(`against Linux over TAP: TCP ${fault === 'crash' ? 'crashes' : 'hangs'} mid-transfer, ${LINUX_SIZE / 1048576} MB each way arrive intact, Linux sees no reset, the idle connection carries on`, { skip: linuxSkip === '' ? false : linuxSkip, timeout: 120_000 }, async (t) => {
    const rig = new Rig();
    let host: TapHost | undefined;
    let py: BothWays['py'] | undefined;
    try {
      host = await tapHost(rig, `recovery-${fault}`);
      const stack = host.stack;
      const b = await startBothWays(host, LINUX_SIZE, (p) => { py = p; });
      const ours = b.ours;
      assert.ok(await until(() => ours.received > LINUX_SIZE / 4, 60_000), 'a quarter of the transfer before the fault');
      const runningAt = successorRunning(stack);
      const faultAt = performance.now();
      stack.supervisor.inject('tcp', fault);
      const linuxGap = await finishBothWays(b, 60_000);
      assert.ok(ours.arrivals.some((x) => x > runningAt()), 'the fault came mid-transfer: data arrived after the successor ran');
      assert.equal(tcpRestarts(stack), 1, 'exactly one restart');
      assert.deepEqual(restoredLog(stack), [{ connections: 2, reset: [] }]);
      t.diagnostic(`Linux, ${fault}: longest gap without goodput newtos receiving ${ours.gapAfter(faultAt).toFixed(1)} ms, Linux receiving ${linuxGap} ms (its longest gap between reads)`);
      ours.socket.destroy();
      b.echoServer.close();
    } finally {
      if (py !== undefined) await stop(py.child);
      await host?.stack.close();
      rig.cleanup();
    }
  });
}
