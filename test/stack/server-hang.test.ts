// A hang of any server is found by the supervisor's heartbeat and handled as a crash
// (issue 13): IP and PF of host a hang (a loop that never beats) while 4 MB cross
// between two hosts on the virtual switch each way; each is terminated and restarted
// from a spare, the transfers arrive intact and no socket sees an error. A server that
// hangs while its host is idle (nothing queued to it) is found too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../../src/stack/host.js';
import { hostPrometheus } from '../../src/stack/stats-text.js';
import { Stream, listenOn, connectTo, until, streamData } from '../support/tcp-stream.js';

const SIZE = 4 * 1024 * 1024;

async function twoHosts(): Promise<[Stack, Stack]> {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const host = (name: string, ip: string): Promise<Stack> => createStack({
    // One allow rule keeps PF in the path of every packet (an empty filter is not asked).
    name, filter: 'default allow\nallow', interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
  }, { switches: { sw0: sw } });
  return [await host('a', '10.0.0.1/24'), await host('b', '10.0.0.2/24')];
}

for (const server of ['ip', 'pf']) {
  test(`${server} hangs mid-transfer: found by heartbeat, restarted, ${SIZE / 1048576} MB each way intact`, { timeout: 120_000 }, async () => {
    const [a, b] = await twoHosts();
    try {
      const toB = streamData(SIZE);
      const toA = streamData(SIZE);
      const accepted = listenOn(a, 9);
      const bSide = new Stream(await connectTo(b, '10.0.0.1', 9), SIZE);
      const aSide = new Stream(await accepted, SIZE);
      aSide.send(toB.bytes);
      bSide.send(toA.bytes);
      assert.ok(await until(() => aSide.received > SIZE / 4 && bSide.received > SIZE / 4, 60_000), 'a quarter of each transfer before the fault');
      const r = await a.inject(server, 'hang');
      assert.equal(r.cause, 'hang');
      assert.match(r.reason, /^no heartbeat for \d+ ms/);
      const [gotA, gotB] = await Promise.all([aSide.within(60_000), bSide.within(60_000)]);
      assert.equal(gotA.sha256, toA.sha256, 'b → a intact');
      assert.equal(gotB.sha256, toB.sha256, 'a → b intact');
      for (const s of [aSide, bSide]) assert.deepEqual(s.events, [], 'no error or close seen by an application');
      const snap = a.snapshot().servers;
      assert.equal(snap.find((x) => x.name === server)!.restarts, 1);
      assert.ok(snap.every((x) => x.name === server || x.restarts === 0), 'no other server restarted');
    } finally {
      await b.close();
      await a.close();
    }
  });
}

test('a server that hangs on an idle host (nothing queued to it) is found and restarted', { timeout: 60_000 }, async () => {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const a = await createStack({ interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.0.0.1/24'] }] }, { switches: { sw0: sw } });
  try {
    const r = await a.inject('pf', 'hang', { timeoutMs: 20_000 });
    assert.equal(r.cause, 'hang');
    assert.equal(r.generation, 2);
    // Found by the CPU rule (it spins) or, where the thread's clock cannot be read, by the wall-clock one.
    assert.match(r.reason, /^no heartbeat for \d+ ms( while it ran \d+ ms on a CPU \(its rule: \d+ ms\))?$/, 'nothing was waiting for it');
  } finally {
    await a.close();
  }
});

// The watchdog section of the configuration reaches the supervisor: with the CPU rule out of the
// way (hangCpuMs of ten minutes) the same hang is found by the wall-clock rule instead, after
// hangTimeoutMs (twice that with nothing queued), and the reason says so.
test('watchdog configuration: hangCpuMs and hangTimeoutMs decide which rule finds a hang', { timeout: 60_000 }, async () => {
  for (const [watchdog, cpuRule] of [[{ hangCpuMs: 20 }, true], [{ hangCpuMs: 600_000, hangTimeoutMs: 250 }, false]] as const) {
    const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
    const a = await createStack({ watchdog, interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.0.0.1/24'] }] }, { switches: { sw0: sw } });
    try {
      const r = await a.inject('pf', 'hang', { timeoutMs: 20_000 });
      assert.equal(r.cause, 'hang');
      if (cpuRule) assert.match(r.reason, /while it ran \d+ ms on a CPU/, JSON.stringify(watchdog));
      else {
        assert.doesNotMatch(r.reason, /on a CPU/, JSON.stringify(watchdog));
        const silent = Number(/no heartbeat for (\d+) ms/.exec(r.reason)?.[1]);
        assert.ok(silent >= 500, `found after twice hangTimeoutMs with nothing queued (${r.reason})`);
      }
    } finally {
      await a.close();
    }
  }
});

// Each thread has the CPU hang rule of its servers: threads of packet servers only (driver, IP,
// PF, UDP) watchdog.packetHangCpuMs, threads with TCP or SOCK watchdog.hangCpuMs; a thread that
// holds both kinds (grouped's transport thread, a monolithic host's one thread) the longer. A
// packet server's hang is found by its own rule: with hangCpuMs at ten minutes, IP's hang would
// otherwise wait for the wall-clock rule.
test('watchdog: packet threads are held to packetHangCpuMs, the others to hangCpuMs, a mixed thread to the longer', { timeout: 60_000 }, async () => {
  const rules = (st: Stack): Record<string, number> => Object.fromEntries(st.supervisor.snapshot().servers.map((x) => [x.name, x.hangRuleMs]));
  const cases = [
    ['isolated', { hangCpuMs: 600_000, packetHangCpuMs: 25 }, { driver: 25, ip: 25, pf: 25, udp: 25, tcp: 600_000, sock: 600_000 }],
    ['grouped', undefined, { driver: 30, ip: 30, pf: 30, udp: 120, tcp: 120, sock: 120 }],
    ['monolithic', undefined, { driver: 120, ip: 120, pf: 120, udp: 120, tcp: 120, sock: 120 }],
    ['isolated', { hangCpuMs: 20 }, { driver: 20, ip: 20, pf: 20, udp: 20, tcp: 20, sock: 20 }],
  ] as const;
  for (const [placement, watchdog, want] of cases) {
    const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
    const a = await createStack({
      placement, ...(watchdog !== undefined ? { watchdog } : {}), interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.0.0.1/24'] }],
    }, { switches: { sw0: sw } });
    try {
      assert.deepEqual(rules(a), want, `${placement} ${JSON.stringify(watchdog)}`);
      if (watchdog?.hangCpuMs === 600_000) {
        const r = await a.inject('ip', 'hang', { timeoutMs: 20_000 });
        assert.equal(r.cause, 'hang');
        assert.match(r.reason, /while it ran (\d+) ms on a CPU \(its rule: 25 ms\)/);
        assert.ok(Number(/while it ran (\d+) ms/.exec(r.reason)![1]) >= 25, r.reason);
        // The metric says the same.
        const text = hostPrometheus('a', a);
        assert.match(text, /newtos_server_hang_rule_seconds\{[^}]*server="ip"[^}]*\} 0\.025\b/);
      }
    } finally {
      await a.close();
    }
  }
});

// The restart section reaches the supervisor too: with maxRestarts 1 a server restarted once is
// given up at its next death (failed, ERR_SERVER_FAILED for the next inject); the default (5)
// restarts it again; with retryAfterMs a failed server comes back by itself.
test('restart configuration: maxRestarts decides when a server is given up', { timeout: 60_000 }, async () => {
  for (const [restart, failsAtSecond] of [[{ maxRestarts: 1, windowMs: 60_000 }, true], [undefined, false]] as const) {
    const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
    const a = await createStack({ ...(restart !== undefined ? { restart } : {}), interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.0.0.1/24'] }] }, { switches: { sw0: sw } });
    try {
      await a.inject('udp', 'crash', { timeoutMs: 20_000 });
      if (failsAtSecond) {
        await assert.rejects(a.inject('udp', 'crash', { timeoutMs: 3_000 }));
        const t0 = Date.now();
        while (a.supervisor.snapshot().servers.find((s) => s.name === 'udp')!.stateName !== 'failed' && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
        assert.equal(a.supervisor.snapshot().servers.find((s) => s.name === 'udp')!.stateName, 'failed');
        assert.ok(a.supervisor.events.some((e) => e.type === 'failed' && e.server === 'udp'));
        await assert.rejects(a.inject('udp', 'crash'), (e: Error & { code?: string }) => e.code === 'ERR_SERVER_FAILED');
        // No retry configured: still failed a while later.
        await new Promise((r) => setTimeout(r, 600));
        assert.equal(a.supervisor.snapshot().servers.find((s) => s.name === 'udp')!.stateName, 'failed');
      } else {
        const r = await a.inject('udp', 'crash', { timeoutMs: 20_000 });
        assert.equal(r.generation, 3);
      }
    } finally {
      await a.close();
    }
  }
});

test('restart.retryAfterMs: a server given up comes back by itself after the cool-down, with a fresh window', { timeout: 60_000 }, async () => {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const a = await createStack({ restart: { maxRestarts: 1, windowMs: 600_000, retryAfterMs: 300 }, interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.0.0.1/24'] }] }, { switches: { sw0: sw } });
  try {
    await a.inject('udp', 'crash', { timeoutMs: 20_000 });
    await assert.rejects(a.inject('udp', 'crash', { timeoutMs: 3_000 }), (e: Error & { code?: string }) => e.code === 'ERR_SERVER_FAILED');
    const failed = a.supervisor.events.find((e) => e.type === 'failed' && e.server === 'udp')!;
    assert.equal(failed.detail!['retryAfterMs'], 300);
    await a.supervisor.whenRunning('udp', 3, 20_000);
    const revived = a.supervisor.events.find((e) => e.type === 'revive' && e.server === 'udp')!;
    assert.ok(revived.t - failed.t >= 290, `revived ${Math.round(revived.t - failed.t)} ms after it failed`);
    // A fresh window: the next crash restarts it at once instead of failing it again.
    const r = await a.inject('udp', 'crash', { timeoutMs: 20_000 });
    assert.equal(r.generation, 4);
  } finally {
    await a.close();
  }
});
