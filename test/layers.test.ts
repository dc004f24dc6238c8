/**
 * The folders of src/ draw the architecture (docs/ARCHITECTURE.md, "Layers"):
 * every import goes from a folder to one of a strictly lower layer, so nothing
 * below imports from above, servers never import each other, and no folder
 * cycle can form. A new folder must be given its layer here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** Layer of each top-level entry of src/, lowest first. */
const LAYER: Readonly<Record<string, number>> = {
  'wire': 0, 'random': 0, 'errors.ts': 0,
  'substrate': 1, 'config': 1,
  'abi': 2,
  'driver': 3, 'ip': 3, 'pf': 3, 'tcp': 3, 'udp': 3, 'sock': 3,
  'app': 4,
  'stack': 5,
  'cli': 6, 'run': 6, 'index.ts': 6,
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Every relative import or export-from of `file`, as paths of .ts files. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)'(\.\.?\/[^']+)'/g)) {
    out.push(path.normalize(path.join(path.dirname(file), m[1]!)).replace(/\.js$/, '.ts'));
  }
  return out;
}

const top = (file: string): string => path.relative(SRC, file).split(path.sep)[0]!;

const edges = new Map<string, string[]>();
for (const file of sourceFiles(SRC)) {
  for (const target of importsOf(file)) {
    const from = top(file);
    const to = top(target);
    if (from === to) continue;
    const key = `${from} -> ${to}`;
    edges.set(key, [...(edges.get(key) ?? []), `${path.relative(SRC, file)} imports ${path.relative(SRC, target)}`]);
  }
}

test('layers: every top-level entry of src/ has a layer', () => {
  const unknown = readdirSync(SRC).filter((e) => !(e in LAYER) && !e.endsWith('.d.ts'));
  assert.deepEqual(unknown, [], 'give new folders a layer in test/layers.test.ts and docs/ARCHITECTURE.md');
});

test('layers: nothing imports from its own layer or above (no upward edge, no folder cycle)', () => {
  const bad: string[] = [];
  for (const [key, sites] of edges) {
    const [from, to] = key.split(' -> ') as [string, string];
    const a = LAYER[from];
    const b = LAYER[to];
    if (a === undefined || b === undefined || b >= a) bad.push(`${key}: ${sites.join('; ')}`);
  }
  assert.deepEqual(bad, []);
});

test('layers: the check sees imports (the graph is not empty)', () => {
  assert.ok(edges.has('tcp -> wire'), 'expected tcp to import wire formats');
  assert.ok(edges.has('stack -> substrate'), 'expected the host assembly to import the substrate');
});
