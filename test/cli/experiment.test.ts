// `newtos experiment faults` as a user runs it (one row, to keep the suite short),
// and the experiment's rows through the API: a PF crash during a stream loses nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from '../support/cli.js';
import { spawnSync } from 'node:child_process';
import { faultSummary, faultSvg, faultTable, runFaultExperiment, summaryTable } from '../../src/cli/experiment.js';
import { tapRowsUnavailable } from '../../src/cli/experiment-tap.js';

test('experiment: a PF crash in the receiving host restarts PF and the stream arrives intact', { timeout: 60_000 }, async () => {
  const r = await runFaultExperiment({ servers: ['pf'], faults: ['crash'], links: ['vswitch'], rateBytesPerSec: 20e6, beforeMs: 300, afterMs: 500, baseline: true });
  assert.equal(r.rows.length, 2);
  const base = r.rows[0]!;
  assert.deepEqual([base.server, base.fault, base.connectionsLost, base.bytesLost], ['none', 'none', 0, 0], 'the baseline row: no fault');
  assert.ok(Number.isNaN(base.restartMs));
  // The baseline's reference: the gap around the instant a fault would have come.
  assert.ok(Number.isFinite(base.deathGapMs) && base.deathGapMs > 0 && base.deathGapMs <= base.gapMs + 1e-9, faultTable(r));
  assert.equal(r.rows.filter((x) => x.server === 'pf').length, 1);
  const row = r.rows[1]!;
  assert.equal(row.server, 'pf');
  assert.equal(row.connectionsLost, 0, faultTable(r));
  assert.equal(row.bytesLost, 0, faultTable(r));
  assert.ok(Number.isFinite(row.restartMs), `PF restarted: ${faultTable(r)}`);
  assert.ok(Number.isFinite(row.deathGapMs) && row.deathGapMs > 0, `the gap at the death is measured: ${faultTable(r)}`);
  // The same gaps where the stack delivers, timed from the sampler thread.
  assert.ok(Number.isFinite(row.deliveryDeathGapMs) && row.deliveryDeathGapMs > 0, `the stack's gap at the death is measured: ${faultTable(r)}`);
  assert.ok(Number.isFinite(row.deliveryGapMs) && Number.isFinite(base.deliveryGapMs) && Number.isFinite(base.deliveryDeathGapMs));
  assert.ok(row.bytesReceived > 0 && row.bytesReceived === row.bytesSent);
  assert.ok(row.goodput.some((b) => b > 0));
  const svg = faultSvg(r);
  assert.match(svg, /^<svg /);
  assert.match(svg, /pf crash: gap/);
});

test('newtos experiment faults: a bad --sender-placement is refused naming the flag and its values; the header names the sender\'s placement', { timeout: 60_000 }, async () => {
  const bad = await runCli(['experiment', 'faults', '--servers', 'udp', '--faults', 'crash', '--links', 'vswitch', '--sender-placement', 'everywhere']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--sender-placement must be grouped, isolated or monolithic, not 'everywhere'/);
  const dir = mkdtempSync(path.join(tmpdir(), 'newtos-exp-'));
  const ok = await runCli(['experiment', 'faults', '--servers', 'udp', '--faults', 'crash', '--links', 'vswitch', '--rate-mbit', '100', '--sender-placement', 'monolithic', '--svg', path.join(dir, 'f.svg')]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /from a second newtos host \(monolithic\) on the virtual switch/);
});

test('newtos experiment faults --json prints one object with a row per server and fault, and writes the graph', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'newtos-exp-'));
  const svg = path.join(dir, 'faults.svg');
  const r = await runCli(['experiment', 'faults', '--servers', 'udp', '--faults', 'crash', '--links', 'vswitch', '--rate-mbit', '100', '--svg', svg, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { rows: { server: string; fault: string; link: string; gapMs: number; bytesLost: number; connectionsLost: number }[]; summary: { server: string; runs: number }[] };
  assert.equal(out.rows.length, 1);
  assert.deepEqual(out.summary.map((x) => [x.server, x.runs]), [['udp', 1]]);
  const row = out.rows[0]!;
  assert.deepEqual([row.server, row.fault, row.link, row.bytesLost, row.connectionsLost], ['udp', 'crash', 'vswitch', 0, 0]);
  assert.equal(typeof row.gapMs, 'number');
  assert.match(readFileSync(svg, 'utf8'), /udp crash/);
});

test('experiment over TAP: Linux streams into newtos while PF and TCP crash; nothing lost, the peer is the kernel', { timeout: 120_000 }, async (t) => {
  const why = tapRowsUnavailable();
  if (why !== '') { t.skip(`needs root and iproute2: ${why}`); return; }
  const namespaces = (): string[] => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith('ntos-exp-'));
  const before = new Set(namespaces());
  const r = await runFaultExperiment({ servers: ['pf', 'tcp'], faults: ['crash'], links: ['tap'], rateBytesPerSec: 20e6, beforeMs: 300, afterMs: 500 });
  assert.deepEqual(r.rows.map((x) => [x.server, x.fault, x.link]), [['pf', 'crash', 'tap'], ['tcp', 'crash', 'tap']]);
  for (const row of r.rows) {
    assert.equal(row.connectionsLost, 0, faultTable(r));
    assert.equal(row.bytesLost, 0, faultTable(r));
    assert.ok(row.bytesReceived > 0 && row.bytesReceived === row.bytesSent, faultTable(r));
    assert.ok(Number.isFinite(row.restartMs), `restarted: ${faultTable(r)}`);
  }
  assert.deepEqual(namespaces().filter((n) => !before.has(n)), [], 'the experiment removed its namespace');
});

test('experiment --links tap without root says why and what it needs', async (t) => {
  if (tapRowsUnavailable() === '') { t.skip('runs as root here: the TAP rows can run'); return; }
  await assert.rejects(runFaultExperiment({ servers: ['pf'], faults: ['crash'], links: ['tap'] }), (e: Error & { code?: string }) => e.code === 'ERR_EXPERIMENT_LINK' && /root/.test(e.message));
  const r = await runCli(['experiment', 'faults', '--servers', 'pf', '--links', 'tap']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--links tap needs root/);
});

test('experiment --repeat: every kind of row runs N times on fresh streams, and the summary gives their distribution', { timeout: 90_000 }, async () => {
  const r = await runFaultExperiment({ servers: ['pf'], faults: ['crash'], links: ['vswitch'], rateBytesPerSec: 20e6, beforeMs: 200, afterMs: 300, baseline: true, repeat: 3 });
  assert.deepEqual(r.rows.map((x) => x.server), ['none', 'none', 'none', 'pf', 'pf', 'pf']);
  const s = faultSummary(r);
  assert.equal(s.length, 2);
  const [base, pf] = s as [typeof s[0], typeof s[0]];
  assert.deepEqual([base.server, base.runs, pf.server, pf.fault, pf.runs], ['none', 3, 'pf', 'crash', 3]);
  const gaps = r.rows.slice(3).map((x) => x.deathGapMs).sort((x, y) => x - y);
  assert.equal(pf.deathGapP50Ms, gaps[1]);
  assert.equal(pf.deathGapMaxMs, gaps[2]);
  assert.equal(pf.deathGapsUpTo10Ms, gaps.filter((g) => g <= 10).length);
  assert.equal(pf.bytesLost + pf.connectionsLost + base.bytesLost + base.connectionsLost, 0, faultTable(r));
  assert.ok(Number.isFinite(pf.restartP50Ms) && Number.isNaN(base.restartP50Ms));
  assert.match(summaryTable(s), /pf\s+crash\s+vswitch\s+3\s/);
  await assert.rejects(runFaultExperiment({ servers: ['pf'], faults: ['crash'], links: ['vswitch'], repeat: 0 }), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG_VALUE');
});

test('newtos experiment refuses an unknown server, naming the flag', async () => {
  const r = await runCli(['experiment', 'faults', '--servers', 'dns']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--servers takes a comma-separated list/);
  const rep = await runCli(['experiment', 'faults', '--repeat', 'many']);
  assert.equal(rep.code, 2);
  assert.match(rep.stderr, /--repeat must be an integer/);
});
