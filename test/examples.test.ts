// Every file in examples/ runs (no privileges) and prints what it says it does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sh } from './support/tarball.js';
import { CLI, freeUdpPorts } from './support/cli.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

/** How each example runs and what its output must match. */
const CASES: Record<string, { run: 'node' | 'newtos run'; expect: RegExp }> = {
  'echo.mjs': { run: 'node', expect: /^echoed: hello, echo\n$/ },
  'http.mjs': { run: 'node', expect: /^200 \{"path":"\/hello","from":"10\.0\.0\.2"\}\n$/ },
  'dgram.mjs': { run: 'node', expect: /^pong to 10\.0\.0\.2: ping\n$/ },
  'udp-link.mjs': { run: 'node', expect: /^client \(pid \d+\) got: hello from pid \d+ over a UDP link\n$/ },
  'frame-link.mjs': { run: 'node', expect: /^hello through a frame link\nframes from a: \d+\n$/ },
  'fetch.mjs': { run: 'newtos run', expect: /^fetch: 200 hello 10\.0\.0\.1\n$/ },
  'https.mjs': { run: 'newtos run', expect: /^https: 200 hello over TLS \(TLSv1\.3\)\n$/ },
};

test('every example has a case here', () => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.mjs')).sort();
  assert.deepEqual(files, Object.keys(CASES).sort());
});

for (const [file, c] of Object.entries(CASES)) {
  test(`examples/${file}`, { timeout: 90_000 }, async () => {
    let args = [`${EXAMPLES}${file}`];
    if (c.run === 'newtos run') {
      const [p1, p2] = await freeUdpPorts(2);
      args = [CLI, 'run', '--udp', `127.0.0.1:${p1}`, '--remote', `127.0.0.1:${p2}`, '--ip', '10.0.0.1/24', '--', 'node', ...args];
    }
    const { stdout, stderr } = await sh(process.execPath, args, { cwd: EXAMPLES, timeoutMs: 60_000 });
    assert.match(stdout, c.expect);
    assert.equal(stderr, '', 'no warning');
  });
}
