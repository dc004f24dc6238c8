/**
 * bench:flood's smoke mode (1.5 s phases at 2000 SYN/s): it completes, cleans up and prints one
 * JSON object with figures for newtos and Linux. Speed is not checked (figures only); without root
 * the bench says so in a null result, which this test checks too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { rigUnavailableReason } from '../support/netns.js';

const BENCH = fileURLToPath(new URL('../../bench/flood.js', import.meta.url));

interface Phase { phase: string; fetches: { count: number; ok: number }; synsOfferedPerS: number; synsProcessedPerS: number | null; pf?: Record<string, number> }
interface Result { newtos: { phases: Phase[]; note?: string } | null; linux: { phases: Phase[]; note?: string } | null; note?: string }

function runBench(...extra: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BENCH, '--smoke', '--json', ...extra], { timeout: 90_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

test('bench:flood --smoke --json completes and prints figures for both hosts (root) or a null result saying why', async (t) => {
  const r = await runBench();
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'one JSON line');
  const result = JSON.parse(lines[0]!) as Result;
  const why = rigUnavailableReason();
  if (why !== '') {
    assert.equal(result.newtos, null);
    assert.match(result.note ?? '', /root/);
    t.skip(why);
    return;
  }
  for (const host of [result.newtos, result.linux]) {
    assert.ok(host !== null, 'both hosts ran');
    assert.equal(host.note, undefined, host.note);
    assert.deepEqual(host.phases.map((p) => p.phase), ['idle', 'fixed', 'max']);
    for (const p of host.phases) {
      assert.ok(p.fetches.count > 0, `${p.phase}: the client fetched`);
      assert.ok(p.synsProcessedPerS !== null);
    }
    assert.ok(host.phases[1]!.synsOfferedPerS > 0, 'the generator sent SYNs');
    assert.ok(host.phases[0]!.fetches.ok > 0, 'fetches succeed without a flood');
  }
});

test('bench:flood --filter: the newtos host runs a stateful filter and the phases carry its figures (root)', async (t) => {
  const why = rigUnavailableReason();
  if (why !== '') { t.skip(why); return; }
  const r = await runBench('--filter', '--newtos-only');
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim()) as Result;
  assert.ok(result.newtos !== null && result.newtos.note === undefined, result.newtos?.note);
  assert.equal(result.linux, null);
  for (const p of result.newtos.phases) assert.ok(p.pf !== undefined, `${p.phase}: the filter's figures`);
  // Not at the generator's most (the smoke run's max phase floods unbounded, and a fetch may not get through).
  for (const p of result.newtos.phases.slice(0, 2)) assert.ok(p.fetches.ok > 0, `${p.phase}: fetches pass the filter`);
  assert.ok(result.newtos.phases[1]!.pf!['statesCreated']! > result.newtos.phases[0]!.pf!['statesCreated']!, 'the flood\'s SYNs made states');
});
