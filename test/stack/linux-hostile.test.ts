/**
 * Hostile input from the Linux side of a TAP link while bulk TCP runs both
 * ways (issue 5, evidence: "truncated, oversized, bad checksums, bad options,
 * fragments that overlap: counted, dropped, no server crash, the running
 * transfer intact").
 *
 *   newtos 10.77.X.2 ── TAP ══ DEV 10.77.X.1 (NS, MTU 9000) ── Linux
 *                                  ▲ AF_PACKET: test/support/hostile-frames.ts
 *
 * A Python injector in the namespace sends rounds of crafted frames onto DEV
 * toward newtos's MAC — link, IPv4, TCP (aimed at the live connection's
 * 4-tuple), TCP option and fragment cases — for as long as a 6 MB transfer
 * Linux → newtos and a 6 MB transfer newtos → Linux run. Checked: both
 * transfers intact (sha256 and length), no newtos server restarted, and every
 * case counted under its own reason in Stack.counters() (driver, IP, TCP), at
 * least once per round sent. DEV's MTU is 9000 so the kernel lets the
 * oversized frames out; newtos's own MTU stays 1500 (and Linux's TCP follows
 * newtos's MSS).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { Rig } from '../support/netns.js';
import { exited, hashingServer, pythonSink, pythonSource, restartsOf, sha, startIn, tapHost, tapTestUnavailable, type TapHost } from '../support/linux-peer.js';
import { HOSTILE_CASES, HOSTILE_FRAMES_PY } from '../support/hostile-frames.js';
import type { NetServer } from '../../src/app/net-server.js';

const SIZE = 6 * 1024 * 1024;
const NEWTOS_PORT = 9100;
const LINUX_PORT = 9101;
const CLOSED_PORT = 9102;

const skipReason = tapTestUnavailable(['python3']);

/** Nested plain data (Stack.counters()). */
type Tree = object;

function at(tree: Tree, path: readonly (string | number)[]): number {
  let v: unknown = tree;
  for (const k of path) v = (v as Record<string | number, unknown> | undefined)?.[k];
  return typeof v === 'number' ? v : 0;
}

describe('hostile frames from Linux while bulk TCP runs both ways over TAP', { skip: skipReason === '' ? false : skipReason, timeout: 120_000 }, () => {
  const rig = new Rig();
  let host: TapHost | undefined;
  let server: NetServer | undefined;
  const children: ChildProcess[] = [];

  before(async () => {
    host = await tapHost(rig, 'hostile');
    await rig.ip(host.ns, 'link', 'set', host.dev, 'mtu', '9000');
  });

  after(async () => {
    server?.close();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) { c.kill('SIGKILL'); await exited(c, 5000); }
    await host?.stack.close();
    rig.cleanup();
  });

  test('both transfers intact, no restart, every hostile case dropped and counted', { timeout: 100_000 }, async () => {
    const { stack, ns, dev, mac, newtosIp, linuxIp } = host!;
    server = await hashingServer(stack, NEWTOS_PORT);
    const sink = await startIn(ns, ['python3', '-u', '-c', pythonSink(linuxIp, LINUX_PORT)], /ready/);
    children.push(sink.child);
    // Resolve ARP both ways before the injector starts (its frames do not depend on it).
    const warm = await stack.ping(linuxIp, { count: 1, timeoutMs: 3000 });
    assert.equal(warm.received, 1);

    const before = stack.counters();
    const livePort = randomInt(20_000, 30_000);
    const injector = await startIn(ns, ['python3', '-u', '-c', HOSTILE_FRAMES_PY, dev, mac, linuxIp, newtosIp,
      String(livePort), String(NEWTOS_PORT), String(CLOSED_PORT)], /ready/);
    children.push(injector.child);

    const toNewtos = rig.exec(ns, ['python3', '-u', '-c', pythonSource(newtosIp, NEWTOS_PORT, SIZE, randomInt(1 << 30), livePort)],
      { allowFailure: true, timeoutMs: 80_000 });
    const data = randomBytes(SIZE);
    const toLinux = new Promise<void>((resolve, reject) => {
      const sock = stack.net.connect({ host: linuxIp, port: LINUX_PORT });
      sock.on('error', reject);
      sock.on('connect', () => sock.end(data));
      sock.on('close', () => resolve());
      sock.resume();
    });
    const [r] = await Promise.all([toNewtos, toLinux]);
    injector.child.kill('SIGTERM');
    assert.ok(await exited(injector.child, 5000), 'injector stopped');
    const report = JSON.parse(injector.output().split('\n').find((l) => l.startsWith('{')) ?? 'null') as
      { rounds: number; framesPerRound: Record<string, number>; sendErrors: Record<string, number> } | null;
    assert.ok(report !== null, `injector report:\n${injector.output()}`);

    // The transfers.
    assert.equal(r.code, 0, `Linux → newtos failed: ${r.stderr}`);
    const [sent, received] = r.stdout.trim().split('\n');
    assert.match(sent ?? '', new RegExp(`^[0-9a-f]{64} ${SIZE}$`));
    assert.equal(received, sent, 'newtos received exactly what Linux sent');
    const line = await waitFor(() => /^[0-9a-f]{64} \d+$/m.exec(sink.output())?.[0], 30_000);
    assert.equal(line, `${sha(data)} ${SIZE}`, 'Linux received exactly what newtos sent');

    // No server restarted.
    assert.deepEqual(Object.fromEntries(Object.entries(restartsOf(stack)).filter(([, v]) => v !== 0)), {});
    assert.deepEqual(stack.supervisor.events.filter((e) => ['crash', 'oom', 'exit', 'hang', 'restart', 'failed'].includes(e.type)).map((e) => e.type), [],
      'no crash, exit, hang or restart event');

    // Every case counted: counters published at most 20 ms after the last change.
    assert.ok(report.rounds >= 10, `the injector ran ${report.rounds} rounds during the transfers`);
    assert.deepEqual(report.sendErrors, {}, 'the kernel sent every crafted frame');
    const need = new Map<string, { path: readonly (string | number)[]; n: number; cases: string[] }>();
    for (const [name, e] of Object.entries(HOSTILE_CASES)) {
      const key = e.counter.join('.');
      const entry = need.get(key) ?? { path: e.counter, n: 0, cases: [] };
      entry.n += e.perRound * report.rounds;
      entry.cases.push(name);
      need.set(key, entry);
    }
    const after = await waitFor(() => {
      const c = stack.counters();
      return [...need.values()].every((e) => at(c, e.path) - at(before, e.path) >= e.n) ? c : undefined;
    }, 3000).catch(() => stack.counters());
    const deltas = [...need.entries()].map(([k, e]) => `${k}: +${at(after, e.path) - at(before, e.path)} (need ${e.n}: ${e.cases.join(', ')})`);
    if (process.env['NEWTOS_INTEROP_VERBOSE'] === '1') console.error(`hostile: ${report.rounds} rounds\n${deltas.join('\n')}\n${JSON.stringify(diff(before, after))}`);
    // Dropped frames are given back by the call that drops them (released, reason 'dropped'),
    // and once the transfers are over IP holds no buffer at all.
    assert.ok(at(after, ['ip', 'released', 'dropped']) > at(before, ['ip', 'released', 'dropped']), 'dropped frames released');
    const quiet = await waitFor(() => { const c = stack.counters(); return at(c, ['ip', 'server', 'held']) === 0 ? c : undefined; }, 3000).catch(() => stack.counters());
    assert.equal(at(quiet, ['ip', 'server', 'held']), 0, 'IP holds no buffer once quiet');
    for (const [key, e] of need) {
      assert.ok(at(after, e.path) - at(before, e.path) >= e.n, `${key} moved by ${at(after, e.path) - at(before, e.path)}, need ${e.n}\n${deltas.join('\n')}`);
    }
  });
});

async function waitFor<T>(f: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (performance.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Numeric leaves that changed, as path → delta (for the verbose print). */
function diff(a: Tree, b: Tree, prefix = ''): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) {
    const p = prefix === '' ? k : `${prefix}.${k}`;
    const old = (a as Record<string, unknown>)[k];
    if (typeof v === 'number') { const d = v - (typeof old === 'number' ? old : 0); if (d !== 0) out[p] = d; }
    else if (typeof v === 'object' && v !== null) Object.assign(out, diff((old ?? {}) as Tree, v as Tree, p));
  }
  return out;
}
