/**
 * Bulk TCP both ways between newtos and the Linux kernel through an impaired
 * link (issue 5, evidence: "bulk transfers both ways under tc netem loss,
 * duplication and reordering, intact").
 *
 * This kernel has no sch_netem (and cannot load modules), so the impairment is
 * a user-space netem: a Python bridge (test/support/impair-bridge.ts) between
 * the TAP's kernel end and a veth pair, in a namespace of its own, applying
 * netem's "loss 2% duplicate 1% reorder 10% delay 1ms" to every frame in both
 * directions:
 *
 *   newtos 10.77.X.2 ── TAP ══ R: DEV ⇄ bridge ⇄ VR ══ VL 10.77.X.1 :L ── Linux
 *
 * Offloads are off on the veth pair (the bridge forwards frames as they are:
 * no GSO super-frames, no partial checksums).
 *
 * Each transfer is checked by sha256 and length on both ends, the bridge must
 * have lost, duplicated and reordered frames in both directions, and no newtos
 * server may have restarted. NEWTOS_DEBUG_TCP_MS=500 prints the servers' debug
 * counters (supervisor 'log' events) while it runs; NEWTOS_IMPAIR="LOSS DUP REORDER
 * DELAY_MS" (e.g. "0.1 0.05 0.3 2") runs it harsher by hand; NEWTOS_NETEM_PCAP=FILE
 * captures the Linux side's veth (tcpdump) into FILE.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { Rig } from '../support/netns.js';
import { exited, hashingServer, pythonSink, pythonSource, restartsOf, sha, startIn, tapHost, tapTestUnavailable, type TapHost } from '../support/linux-peer.js';
import { IMPAIR_BRIDGE_PY, parseImpairReport } from '../support/impair-bridge.js';
import type { NetServer } from '../../src/app/net-server.js';

const SIZE = 4 * 1024 * 1024;
/** loss, duplicate, reorder (probabilities), delay (ms): netem's "loss 2% duplicate 1% reorder 10% delay 1ms". */
const IMPAIR = (process.env['NEWTOS_IMPAIR'] ?? '0.02 0.01 0.10 1').split(' ');
const SINK_PORT = 9000;
const NEWTOS_PORT = 9001;
const debugMs = Number(process.env['NEWTOS_DEBUG_TCP_MS'] ?? 0);

const skipReason = tapTestUnavailable(['python3', 'ethtool', 'tcpdump']);

describe('bulk TCP between newtos and Linux through a lossy link (loss 2 %, duplicate 1 %, reorder 10 %, delay 1 ms, both ways)',
  { skip: skipReason === '' ? false : skipReason, timeout: 150_000 }, () => {
    const rig = new Rig();
    let host: TapHost | undefined;
    let linuxNs = '';
    let vethBridge = '';
    let bridge: { child: ChildProcess; output: () => string } | undefined;
    let dumper: ChildProcess | undefined;
    const figures: string[] = [];
    let server: NetServer | undefined;

    before(async () => {
      host = await tapHost(rig, 'netem', {
        kernelAddress: false,
        // The impairing bridge moves wire-sized frames: no 64 KiB super-frames on this TAP.
        vnetHeader: false,
        ...(debugMs > 0 ? { onLog: (s: string, d: unknown) => console.error(`[${s}]`, JSON.stringify(d)) } : {}),
      });
      linuxNs = await rig.netns();
      const v = await rig.veth(host.ns, linuxNs);
      vethBridge = v.a;
      await rig.addr(linuxNs, v.b, `${host.linuxIp}/24`);
      await rig.up(host.ns, v.a);
      await rig.up(linuxNs, v.b);
      await rig.exec(linuxNs, ['ethtool', '-K', v.b, 'tx', 'off', 'tso', 'off', 'gso', 'off']);
      await rig.exec(host.ns, ['ethtool', '-K', v.a, 'gro', 'off'], { allowFailure: true });
      const pcap = process.env['NEWTOS_NETEM_PCAP'];
      if (pcap !== undefined) {
        const dump = await startIn(linuxNs, ['tcpdump', '-i', v.b, '-n', '-U', '-s', '128', '-w', pcap], /listening on/);
        dumper = dump.child;
      }
      bridge = await startIn(host.ns, ['python3', '-u', '-c', IMPAIR_BRIDGE_PY, host.dev, vethBridge, ...IMPAIR, String(randomInt(1 << 30))], /ready/);
    });

    after(async () => {
      server?.close();
      if (bridge !== undefined && bridge.child.exitCode === null) { bridge.child.kill('SIGKILL'); await exited(bridge.child, 5000); }
      if (dumper !== undefined) { dumper.kill('SIGINT'); await exited(dumper, 5000); }
      await host?.stack.close();
      rig.cleanup();
      if (figures.length > 0) console.error(`lossy-link transfers (${SIZE} B each): ${figures.join('; ')}`);
    });

    test('newtos sends 4 MB to a Linux socket; Linux receives every byte', { timeout: 70_000 }, async () => {
      const { stack, linuxIp } = host!;
      const sink = await startIn(linuxNs, ['python3', '-u', '-c', pythonSink(linuxIp, SINK_PORT)], /ready/);
      try {
        const data = randomBytes(SIZE);
        const started = performance.now();
        await new Promise<void>((resolve, reject) => {
          const sock = stack.net.connect({ host: linuxIp, port: SINK_PORT });
          sock.on('error', reject);
          sock.on('connect', () => sock.end(data));
          sock.on('close', () => resolve());
          sock.resume();
        });
        const line = await waitForLine(sink.output, /^[0-9a-f]{64} \d+$/m, 60_000);
        const seconds = (performance.now() - started) / 1000;
        assert.equal(line, `${sha(data)} ${SIZE}`, 'Linux hashed exactly what newtos sent');
        figures.push(`newtos→Linux ${(SIZE / seconds / 1e6).toFixed(2)} MB/s`);
      } finally {
        if (sink.child.exitCode === null) { sink.child.kill('SIGKILL'); await exited(sink.child, 5000); }
      }
      assert.deepEqual(nonZero(restartsOf(stack)), {}, 'no newtos server restarted');
    });

    test('a Linux socket sends 4 MB to newtos; newtos receives every byte', { timeout: 70_000 }, async () => {
      const { stack, newtosIp } = host!;
      server = await hashingServer(stack, NEWTOS_PORT);
      const started = performance.now();
      const r = await rig.exec(linuxNs, ['python3', '-u', '-c', pythonSource(newtosIp, NEWTOS_PORT, SIZE, randomInt(1 << 30))],
        { allowFailure: true, timeoutMs: 60_000 });
      const seconds = (performance.now() - started) / 1000;
      assert.equal(r.code, 0, `python source failed: ${r.stderr}`);
      const [sent, received] = r.stdout.trim().split('\n');
      assert.match(sent ?? '', new RegExp(`^[0-9a-f]{64} ${SIZE}$`));
      assert.equal(received, sent, 'newtos hashed exactly what Linux sent');
      figures.push(`Linux→newtos ${(SIZE / seconds / 1e6).toFixed(2)} MB/s`);
      assert.deepEqual(nonZero(restartsOf(stack)), {}, 'no newtos server restarted');
    });

    test('the bridge lost, duplicated and reordered frames in both directions', async () => {
      const b = bridge!;
      b.child.kill('SIGTERM');
      assert.ok(await exited(b.child, 5000), 'bridge exited on SIGTERM');
      const report = parseImpairReport(b.output());
      assert.ok(report !== undefined, `bridge report:\n${b.output()}`);
      figures.push(`bridge ${JSON.stringify(report)}`);
      // What reordering did to newtos's TCP input (both transfers): PAWS drops, and the
      // reordered duplicate ACKs accepted all the same (src/tcp/input.ts isDisorderedAck).
      const tcp = host!.stack.counters().tcp as Record<string, number>;
      figures.push(`newtos TCP segmentsIn ${tcp['segmentsIn']}, dropPaws ${tcp['dropPaws']}, pawsDisorderedAcks ${tcp['pawsDisorderedAcks']}`);
      for (const [dir, st] of Object.entries(report)) {
        assert.ok(st.lost > 0 && st.duplicated > 0 && st.reordered > 0, `${dir}: ${JSON.stringify(st)}`);
        assert.equal(st.sendErrors, 0, `${dir}: every kept frame was forwarded`);
      }
    });
  });

function nonZero(r: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== 0));
}

/** Polls a child's accumulated output until `re` matches; returns the match. */
async function waitForLine(output: () => string, re: RegExp, timeoutMs: number): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const m = re.exec(output());
    if (m !== null) return m[0];
    if (performance.now() > deadline) throw new Error(`no line matching ${String(re)} after ${timeoutMs} ms; output:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
