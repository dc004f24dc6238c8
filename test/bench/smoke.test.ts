// Every benchmark runs once in its smoke mode (tiny sizes, one run) and prints its
// JSON: a bench that no longer runs fails the test command instead of rotting
// (bench:tcp stopped with 'stalled' for weeks and nothing noticed). No figure is
// asserted. Parts that need root (TAP, Linux over veth) report null and a note
// when not root; they run here when root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHES = ['channels', 'wire', 'tcp', 'nic', 'stack', 'rr', 'app', 'loss', 'cc', 'replicas', 'http'] as const;

function runBench(name: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = fileURLToPath(new URL(`../../bench/${name}.js`, import.meta.url));
  return new Promise((resolve) => {
    execFile(process.execPath, [file, '--smoke', '--json'], { timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

for (const name of BENCHES) {
  test(`bench:${name} --smoke runs and prints its JSON`, { timeout: 150_000 }, async () => {
    const r = await runBench(name);
    assert.equal(r.code, 0, `bench:${name} failed:\n${r.stderr}`);
    const last = r.stdout.trim().split('\n').pop() ?? '';
    let out: unknown;
    assert.doesNotThrow(() => { out = JSON.parse(last); }, `bench:${name} did not end with a JSON line: ${last}`);
    assert.equal(typeof out, 'object');
    assert.equal((out as { smoke?: unknown }).smoke, true, 'the JSON says it was a smoke run');
  });
}
