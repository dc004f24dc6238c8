// A strict reader of Prometheus text exposition format 0.0.4, for tests: every
// line well-formed, every sample's metric announced by HELP and TYPE (once, before
// its samples, one family's samples together), counters named *_total, no sample
// twice. Throws naming the line; returns the samples.
import assert from 'node:assert/strict';

export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PromFamily {
  readonly help: string;
  readonly type: string;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL_NAME = '[a-zA-Z_][a-zA-Z0-9_]*';
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\["\\\\n])*"';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL_NAME}=${LABEL_VALUE})(?:,${LABEL_NAME}=${LABEL_VALUE})*,?)?\\})? (\\S+)(?: (-?\\d+))?$`);
const HELP = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const LABEL = new RegExp(`(${LABEL_NAME})=(${LABEL_VALUE})`, 'g');

export function parsePrometheus(text: string): { families: Map<string, PromFamily>; samples: PromSample[] } {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const help = new Map<string, string>();
  const families = new Map<string, PromFamily>();
  const samples: PromSample[] = [];
  const seen = new Set<string>();
  const finished = new Set<string>();
  let current = '';
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    let m: RegExpExecArray | null;
    if ((m = HELP.exec(line)) !== null) {
      assert.ok(!help.has(m[1]!), `${where}: a second HELP`);
      assert.ok(m[2]!.trim() !== '', `${where}: empty HELP`);
      help.set(m[1]!, m[2]!);
      return;
    }
    if ((m = TYPE.exec(line)) !== null) {
      const name = m[1]!;
      assert.ok(help.has(name), `${where}: TYPE before HELP`);
      assert.ok(!families.has(name), `${where}: a second TYPE`);
      if (m[2] === 'counter') assert.match(name, /_total$/, `${where}: a counter's name ends in _total`);
      else assert.doesNotMatch(name, /_total$/, `${where}: only counters end in _total`);
      families.set(name, { help: help.get(name)!, type: m[2]! });
      if (current !== '') finished.add(current);
      current = name;
      return;
    }
    assert.ok(!line.startsWith('#'), `${where}: an unknown comment`);
    m = SAMPLE.exec(line);
    assert.ok(m !== null, `${where}: not a well-formed sample`);
    const name = m[1]!;
    assert.ok(families.has(name), `${where}: a sample without HELP and TYPE`);
    assert.equal(name, current, `${where}: a sample away from its family`);
    assert.ok(!finished.has(name));
    const labels: Record<string, string> = {};
    for (const lm of (m[2] ?? '').matchAll(LABEL)) {
      assert.ok(!(lm[1]! in labels), `${where}: label ${lm[1]} twice`);
      labels[lm[1]!] = JSON.parse(lm[2]!) as string;
    }
    const value = Number(m[3]);
    assert.ok(/^(?:[+-]?(?:\d+\.?\d*(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?)|[+-]Inf|NaN)$/i.test(m[3]!) && (Number.isFinite(value) || /Inf|NaN/.test(m[3]!)), `${where}: bad value`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    assert.ok(!seen.has(key), `${where}: the same sample twice`);
    seen.add(key);
    samples.push({ name, labels, value });
  });
  for (const name of families.keys()) assert.ok(samples.some((s) => s.name === name), `${name}: HELP and TYPE without a sample`);
  return { families, samples };
}

/** The value of the one sample of `name` whose labels include `labels`. */
export function promValue(samples: readonly PromSample[], name: string, labels: Readonly<Record<string, string>>): number {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.equal(hits.length, 1, `one sample ${name}${JSON.stringify(labels)}, found ${hits.length}`);
  return hits[0]!.value;
}
