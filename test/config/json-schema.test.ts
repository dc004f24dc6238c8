// docs/config.schema.json is generated from the validators and cannot drift: it must equal
// what stackConfigJsonSchema() gives, accept and refuse what validateStackConfig does on
// sample configurations (checked with a small evaluator of the keywords it uses), and every
// field it names must be in docs/configuration.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { stackConfigJsonSchema, validateStackConfig } from '../../src/config/stack-config.js';

const ROOT = new URL('../../../', import.meta.url);
type Schema = Record<string, unknown>;

test('docs/config.schema.json is what the validators generate (npm run schema)', () => {
  const file = JSON.parse(readFileSync(new URL('docs/config.schema.json', ROOT), 'utf8')) as unknown;
  assert.deepEqual(file, JSON.parse(JSON.stringify(stackConfigJsonSchema())));
});

/** The draft 2020-12 keywords the generated schema uses, evaluated as the spec says. */
function accepts(s: Schema, v: unknown): boolean {
  if (s['oneOf'] !== undefined) return (s['oneOf'] as Schema[]).filter((x) => accepts(x, v)).length === 1;
  if (s['enum'] !== undefined && !(s['enum'] as unknown[]).includes(v)) return false;
  switch (s['type']) {
    case 'boolean': return typeof v === 'boolean';
    case 'integer': return typeof v === 'number' && Number.isInteger(v) && v >= (s['minimum'] as number) && v <= (s['maximum'] as number);
    case 'string': return typeof v === 'string' && (s['pattern'] === undefined || new RegExp(s['pattern'] as string, 'u').test(v));
    case 'array': {
      if (!Array.isArray(v)) return false;
      if (s['minItems'] !== undefined && v.length < (s['minItems'] as number)) return false;
      if (s['maxItems'] !== undefined && v.length > (s['maxItems'] as number)) return false;
      return v.every((x) => accepts(s['items'] as Schema, x));
    }
    case 'object': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
      const props = s['properties'] as Record<string, Schema>;
      const rec = v as Record<string, unknown>;
      if ((s['required'] as string[]).some((k) => !(k in rec))) return false;
      return Object.entries(rec).every(([k, x]) => props[k] !== undefined && accepts(props[k], x));
    }
    default: return s['enum'] !== undefined;
  }
}

const ifc = (extra: object = {}, link: object = { type: 'frames' }): object => ({ name: 'eth0', link, addresses: ['10.0.0.1/24'], ...extra });
const SAMPLES: unknown[] = [
  { interfaces: [ifc()] },
  { interfaces: [] },
  {},
  { interfaces: [ifc()], extra: 1 },
  { interfaces: [ifc({ mtu: 9000, mac: '02:00:00:00:00:01', checksumOffload: false })] },
  { interfaces: [ifc({ mtu: 67 })] },
  { interfaces: [ifc({ mac: '02:00:00:00:00' })] },
  { interfaces: [ifc({ addresses: ['10.0.0.256/24'] })] },
  { interfaces: [ifc({ addresses: ['10.0.0.1/33'] })] },
  { interfaces: [ifc({ addresses: ['10.0.0.1'] })] },
  { interfaces: [ifc({ name: '0eth' })] },
  { interfaces: [ifc({}, { type: 'tap', device: 'tap0', vnetHeader: false })] },
  { interfaces: [ifc({}, { type: 'tap' })] },
  { interfaces: [ifc({}, { type: 'udp', mode: 'dgram', local: '127.0.0.1:1', remote: '127.0.0.1:2' })] },
  { interfaces: [ifc({}, { type: 'udp', mode: 'vxlan', local: '127.0.0.1:1', remote: '127.0.0.1:2', vni: 16777216 })] },
  { interfaces: [ifc({}, { type: 'udp', mode: 'quic', local: '127.0.0.1:1', remote: '127.0.0.1:2' })] },
  { interfaces: [ifc({}, { type: 'vswitch', switch: 'sw0' })] },
  { interfaces: [ifc({}, { type: 'vswitch' })] },
  { interfaces: [ifc({}, { type: 'frames', device: 'x' })] },
  { interfaces: [ifc({}, { type: 'ppp' })] },
  { interfaces: [ifc()], routes: [{ destination: '0.0.0.0/0', gateway: '10.0.0.254' }] },
  { interfaces: [ifc()], routes: [{ destination: '0.0.0.0/0', gateway: '10.0.0.254.1' }] },
  { interfaces: [ifc()], placement: 'monolithic', forwarding: true, filter: '' },
  { interfaces: [ifc()], placement: 'threads' },
  { interfaces: [ifc()], tcp: { congestionControl: 'newreno', sendBufferBytes: 4096, synCookies: false } },
  { interfaces: [ifc()], tcp: { sendBufferBytes: 4095 } },
  { interfaces: [ifc()], tcp: { mslMs: 1.5 } },
  { interfaces: [ifc()], pmtu: { expiresMs: 1000, minMtu: 552 }, offloads: { tso: false }, rss: { queues: 128 } },
  { interfaces: [ifc()], rss: { queues: 129 } },
  { interfaces: [ifc()], limits: { maxHeapMb: 64, maxSockets: 16 } },
  { interfaces: [ifc()], dns: { resolvers: ['10.0.0.53', '10.0.0.54:5353'], timeoutMs: 100, attempts: 3 } },
  { interfaces: [ifc()], dns: { resolvers: [] } },
  { interfaces: [ifc()], dns: { resolvers: ['dns.example'] } },
  { interfaces: [ifc()], dns: { resolvers: ['10.0.0.53'], attempts: 0 } },
  { interfaces: [ifc()], dns: { timeoutMs: 100 } },
  { interfaces: [ifc()], name: 'x'.repeat(33) },
];

test('the schema accepts and refuses what the validators do', () => {
  const schema = stackConfigJsonSchema();
  let refused = 0;
  for (const sample of SAMPLES) {
    const ok = validateStackConfig(sample).ok;
    if (!ok) refused++;
    assert.equal(accepts(schema, sample), ok, `${JSON.stringify(sample)}: validators say ${ok ? 'ok' : 'refused'}`);
  }
  assert.ok(refused > 10 && refused < SAMPLES.length - 5, 'samples of both kinds');
});

test('docs/configuration.md names every field of the schema', () => {
  const doc = readFileSync(new URL('docs/configuration.md', ROOT), 'utf8');
  const fields = new Set<string>();
  const walk = (s: Schema, path: string): void => {
    if (s['oneOf'] !== undefined) { for (const x of s['oneOf'] as Schema[]) walk(x, path); return; }
    if (s['type'] === 'array' && (s['items'] as Schema)['type'] === 'object') { walk(s['items'] as Schema, `${path}[]`); return; }
    if (s['type'] === 'object') {
      for (const [k, x] of Object.entries(s['properties'] as Record<string, Schema>)) {
        const p = path === '' ? k : `${path}.${k}`;
        fields.add(p);
        walk(x, p);
      }
    }
  };
  walk(stackConfigJsonSchema(), '');
  const missing = [...fields].filter((f) => !doc.includes(`\`${f}\``));
  assert.deepEqual(missing, []);
});
