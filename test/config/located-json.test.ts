// The located JSON parser on hostile nesting: deep input is refused with the
// line and column of the bracket that goes too deep, never a stack overflow,
// both from the parser and through `newtos up --config FILE`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_JSON_NESTING, parseLocatedJson } from '../../src/config/located-json.js';
import { runCli } from '../support/cli.js';

const DEEP = 100_000;

/** `depth` nested containers on line 2 after a line of `{"x":` — objects, arrays, or the two alternating. */
function nested(depth: number, kind: 'array' | 'object' | 'mixed'): string {
  let open = '';
  let close = '';
  for (let d = 0; d < depth; d++) {
    const obj = kind === 'object' || (kind === 'mixed' && d % 2 === 1);
    open += obj ? '{"a":' : '[';
    close = (obj ? '}' : ']') + close;
  }
  return `{"x":\n${open}0${close}}`;
}

/** Column (1-based, on line 2) of the container that opens at nesting level `level` (the line-1 object is level 1). */
function columnOfLevel(level: number, kind: 'array' | 'object' | 'mixed'): number {
  let col = 1;
  for (let d = 0; d < level - 2; d++) col += kind === 'object' || (kind === 'mixed' && d % 2 === 1) ? 5 : 1;
  return col;
}

for (const kind of ['array', 'object', 'mixed'] as const) {
  test(`${DEEP} nested ${kind === 'mixed' ? 'arrays and objects' : `${kind}s`}: a syntax error at the bracket too deep, no stack overflow`, () => {
    const r = parseLocatedJson(nested(DEEP, kind));
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.match(r.reason, new RegExp(`nested deeper than ${MAX_JSON_NESTING} levels`));
    assert.deepEqual(r.position, { line: 2, column: columnOfLevel(MAX_JSON_NESTING + 1, kind) });
  });
}

test(`nesting up to ${MAX_JSON_NESTING} levels parses as JSON.parse does; one more is refused`, () => {
  for (const kind of ['array', 'object', 'mixed'] as const) {
    const ok = nested(MAX_JSON_NESTING - 1, kind); // plus the line-1 object
    const r = parseLocatedJson(ok);
    assert.ok(r.ok, `${kind}: ${JSON.stringify(r)}`);
    assert.deepEqual(r.value, JSON.parse(ok));
    const over = parseLocatedJson(nested(MAX_JSON_NESTING, kind));
    assert.equal(over.ok, false, kind);
  }
});

test('newtos up --config with 100000 nested arrays: the error with file:line:column, exit 1, no stack trace', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'newtos-deep-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'deep.json');
  writeFileSync(file, nested(DEEP, 'array'));
  const r = await runCli(['up', '--config', file]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const col = columnOfLevel(MAX_JSON_NESTING + 1, 'array');
  assert.match(r.stderr, new RegExp(`^newtos: invalid configuration:\\n${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2:${col}: \\(syntax\\): objects and arrays nested deeper than ${MAX_JSON_NESTING} levels\\n$`));
  assert.doesNotMatch(r.stderr, /RangeError|Maximum call stack|\n\s+at /);
  assert.doesNotMatch(r.stdout, / up /);
});
