import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSubstrateDemo } from './demo.js';

test('substrate demo: one crash, every message exactly once, a summary printed', async () => {
  const lines: string[] = [];
  const s = await runSubstrateDemo({ seconds: 1, ratePerMs: 30, print: (l) => lines.push(l) });
  assert.equal(s.received, s.sent);
  assert.equal(s.lost, 0);
  assert.ok(s.inOrder);
  assert.equal(s.recoveries.length, 1);
  assert.ok(lines.some((l) => l.startsWith('restart: relay1 (crash)')));
  assert.ok(lines.some((l) => l.startsWith('relay1')));
});
