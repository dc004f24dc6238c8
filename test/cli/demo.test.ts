// `newtos demo` (runDemo): the transfers are checked by sha256, and during the fault
// phase's download the serving host's tcp and ip servers crash and restart while the
// download carries on intact, with a line per crash saying so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { progressBar, runDemo } from '../../src/cli/demo.js';

test('demo: tcp and ip crash during a download, each restarted, the download intact', { timeout: 120_000 }, async () => {
  const lines: string[] = [];
  const bars: string[] = [];
  const r = await runDemo({ sizes: [64 * 1024], liveMs: 0, faultBytes: 8 * 1024 * 1024, out: (l) => lines.push(l), progress: (b) => bars.push(b) });
  assert.ok(r.allOk, lines.join('\n'));
  assert.deepEqual(r.faults.map((f) => f.server), ['tcp', 'ip']);
  assert.ok(r.faults.every((f) => f.intact && f.restartMs > 0));
  assert.equal(r.restarts, 2);
  for (const server of ['tcp', 'ip']) {
    assert.ok(lines.some((l) => new RegExp(`^${server} crashed → restarted in \\d+ ms, transfer intact \\(sha256 matches\\)$`).test(l)), lines.join('\n'));
  }
  assert.match(lines.at(-1)!, /integrity OK, .* 2 server restarts$/);
  assert.equal(bars.at(-1), progressBar(8 * 1024 * 1024, 8 * 1024 * 1024));
});

test('progressBar draws the share done', () => {
  assert.equal(progressBar(0, 100, 10), '[----------]   0 %  0.0 / 0.0 MB');
  assert.equal(progressBar(16e6, 32e6, 10), '[#####-----]  50 %  16.0 / 32.0 MB');
});
