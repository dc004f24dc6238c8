// A fresh machine has no ping, tcpdump, socat...: a test that runs one of them must skip
// and name it, not fail on "exec of ping failed" (only CI installs them). This checks, by
// reading the test sources, that every test file that runs such a tool names it in a guard
// of the same file: requireRoot(t, [...]), tapTestUnavailable([...]), missingTools([...]), or
// a probe of the tool's version before it is used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Tools of the Debian packages the README lists for the root tests (not iproute2's `ip`/`tc`, which the rig checks). */
const TOOLS = ['ping', 'socat', 'nmap', 'tshark', 'tcpdump', 'ethtool', 'wrk', 'dnsmasq', 'curl', 'python3', 'taskset'];

const TEST_ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'test');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : []);
}

/**
 * The tools `source` runs: a tool's name as the command of rig.exec / startIn / run,
 * after `ip netns exec NS`, or as the file of spawn / execFile (with or without Sync).
 */
export function toolsRun(source: string): string[] {
  const command = String.raw`(?:exec\([^,()]+,\s*\[|startIn\([^,()]+,\s*\[|'exec',\s*[\w.]+,\s*|spawn(?:Sync)?\(|execFile(?:Sync)?\(|\brun\(\[)`;
  return TOOLS.filter((tool) => new RegExp(`${command}'${tool}'`).test(source));
}

/** The tools `source` guards: named in a guard's list, or probed for its version. */
export function toolsGuarded(source: string): string[] {
  const guarded = new Set<string>();
  for (const m of source.matchAll(/(?:requireRoot\(t,|tapTestUnavailable\(|missingTools\()\s*\[([^\]]*)\]/g)) {
    for (const n of m[1]!.matchAll(/'([\w.-]+)'/g)) guarded.add(n[1]!);
  }
  for (const m of source.matchAll(/(?:execFileSync|spawnSync)\('([\w.-]+)', \['(?:-v|-V|--version)'\]/g)) guarded.add(m[1]!);
  for (const m of source.matchAll(/command -v ([\w.-]+)'/g)) guarded.add(m[1]!);
  return [...guarded];
}

test('the guard check reads uses and guards as meant', () => {
  assert.deepEqual(toolsRun(`await rig.exec(ns, ['ping', '-c', '1', ip]);`), ['ping']);
  assert.deepEqual(toolsRun(`c.send('ping'); spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-i', dev]);`), ['tcpdump']);
  assert.deepEqual(toolsRun(`await runCli(['ping', ...link, '10.9.0.1']); execFileSync('tshark', ['-r', f]);`), ['tshark']);
  assert.deepEqual(toolsGuarded(`if (!requireRoot(t, ['ping', 'curl'])) return;`), ['ping', 'curl']);
  assert.deepEqual(toolsGuarded(`const why = tapTestUnavailable(['socat']);`), ['socat']);
  assert.deepEqual(toolsGuarded(`execFileSync('tshark', ['--version'], { stdio: 'ignore' })`), ['tshark']);
  assert.deepEqual(toolsGuarded(`if (spawnSync('sh', ['-c', 'command -v tshark']).status === 0) {`), ['tshark']);
  assert.deepEqual(toolsGuarded(`if (!requireRoot(t)) return;`), []);
});

test('every test file that runs a system tool names it in a guard (skips where it is missing)', () => {
  const unguarded: string[] = [];
  for (const file of sources(TEST_ROOT).filter((f) => !f.endsWith('tool-guards.test.ts'))) {
    const source = readFileSync(file, 'utf8');
    const guarded = toolsGuarded(source);
    for (const tool of toolsRun(source)) {
      if (!guarded.includes(tool)) unguarded.push(`${relative(TEST_ROOT, file)}: runs ${tool} without a guard naming it`);
    }
  }
  assert.deepEqual(unguarded, []);
});
