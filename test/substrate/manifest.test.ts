import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateManifest } from '../../src/substrate/manifest.js';
import { Supervisor } from '../../src/substrate/supervisor.js';

const base = (): Record<string, unknown> => ({
  servers: [{ name: 'a', module: '/x/a.js' }, { name: 'b', module: '/x/b.js' }],
  channels: [{ from: 'a.out', to: 'b.in' }],
});

const cases: [string, (m: Record<string, unknown>) => unknown, string, RegExp][] = [
  ['not an object', () => 42, '', /object/],
  ['no servers', (m) => ({ ...m, servers: [] }), 'servers', /non-empty/],
  ['bad server name', (m) => ({ ...m, servers: [{ name: '1x', module: 'm' }] }), 'servers[0].name', /match/],
  ['duplicate server', (m) => ({ ...m, servers: [{ name: 'a', module: 'm' }, { name: 'a', module: 'm' }] }), 'servers[1].name', /duplicate/],
  ['missing module', (m) => ({ ...m, servers: [{ name: 'a' }, { name: 'b', module: 'm' }] }), 'servers[0].module', /non-empty/],
  ['unknown channel server', (m) => ({ ...m, channels: [{ from: 'a.out', to: 'zz.in' }] }), 'channels[0].to', /unknown server "zz"/],
  ['endpoint without dot', (m) => ({ ...m, channels: [{ from: 'a', to: 'b.in' }] }), 'channels[0].from', /server.endpoint/],
  ['endpoint used twice', (m) => ({ ...m, channels: [{ from: 'a.out', to: 'b.in' }, { from: 'a.out', to: 'b.in2' }] }), 'channels[1].from', /already used/],
  ['capacity not power of two', (m) => ({ ...m, channels: [{ from: 'a.out', to: 'b.in', capacity: 1000 }] }), 'channels[0].capacity', /power of two/],
  ['self channel', (m) => ({ ...m, channels: [{ from: 'a.out', to: 'a.in' }] }), 'channels[0]', /different servers/],
  ['bad transport', (m) => ({ ...m, channels: [{ from: 'a.out', to: 'b.in', transport: 'tcp' }] }), 'channels[0].transport', /ring/],
  ['pool of unknown owner', (m) => ({ ...m, pools: [{ name: 'p', owner: 'q' }] }), 'pools[0].owner', /unknown server/],
  ['pool bad size', (m) => ({ ...m, pools: [{ name: 'p', owner: 'a', size: 100 }] }), 'pools[0].size', /multiple of 64/],
  ['placement group misses a server', (m) => ({ ...m, placement: { mode: 'groups', groups: [['a']] } }), 'placement.groups', /"b" is not placed/],
  ['placement twice', (m) => ({ ...m, placement: { groups: [['a', 'b'], ['b']] } }), 'placement.groups[1]', /placed twice/],
  ['bad polling mode', (m) => ({ ...m, polling: { mode: 'fast' } }), 'polling.mode', /adaptive/],
  ['bad resource limit', (m) => ({ ...m, servers: [{ name: 'a', module: 'm', resourceLimits: { maxOldGenerationSizeMb: 1 } }, { name: 'b', module: 'm' }] }), 'servers[0].resourceLimits.maxOldGenerationSizeMb', /from 4/],
  ['restartAfterExit not a boolean', (m) => ({ ...m, servers: [{ name: 'a', module: 'm', restartAfterExit: 'yes' }, { name: 'b', module: 'm' }] }), 'servers[0].restartAfterExit', /boolean/],
  ['sharedBytes not an integer', (m) => ({ ...m, servers: [{ name: 'a', module: 'm', sharedBytes: 1.5 }, { name: 'b', module: 'm' }] }), 'servers[0].sharedBytes', /integer from 0/],
  ['sharedBytes too large', (m) => ({ ...m, servers: [{ name: 'a', module: 'm', sharedBytes: 2 ** 40 }, { name: 'b', module: 'm' }] }), 'servers[0].sharedBytes', /integer from 0 to 268435456/],
  ['hangCpuMs below its floor', (m) => ({ ...m, servers: [{ name: 'a', module: 'm', hangCpuMs: 1 }, { name: 'b', module: 'm' }] }), 'servers[0].hangCpuMs', /number from 5 to 600000/],
  ['hangCpuMs not a number', (m) => ({ ...m, servers: [{ name: 'a', module: 'm' }, { name: 'b', module: 'm', hangCpuMs: '30' }] }), 'servers[1].hangCpuMs', /number from 5 to 600000/],
  ['bad restart policy', (m) => ({ ...m, supervisor: { restart: { maxRestarts: -1 } } }), 'supervisor.restart.maxRestarts', /integer/],
  ['unknown top-level field', (m) => ({ ...m, servres: [] }), 'servres', /unknown field/],
];

for (const [name, mutate, field, reason] of cases) {
  test(`manifest rejected: ${name} (${field || '<root>'})`, () => {
    const r = validateManifest(mutate(base()));
    assert.equal(r.ok, false);
    if (r.ok) return;
    const issue = r.issues.find((i) => i.field === field);
    assert.ok(issue, `no issue for ${field}: ${JSON.stringify(r.issues)}`);
    assert.match(issue.reason, reason);
  });
}

test('a good manifest is normalized with defaults', () => {
  const r = validateManifest({ ...base(), pools: [{ name: 'p', owner: 'a', size: 'segment', count: 4 }], placement: { mode: 'monolithic' } });
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.value.channels[0]!.capacity, 1024);
  assert.equal(r.value.channels[0]!.transport, 'ring');
  assert.deepEqual(r.value.groups, [['a', 'b']]);
  assert.deepEqual(r.value.pools[0]!.readers, ['a', 'b']);
  assert.equal(r.value.polling.mode, 'adaptive');
});

test('Supervisor.start rejects a bad manifest with ERR_MANIFEST naming the field', async () => {
  await assert.rejects(Supervisor.start({ servers: [{ name: 'a', module: '' }] }), (e: Error & { code?: string; issues?: unknown[] }) => {
    assert.equal(e.code, 'ERR_MANIFEST');
    assert.match(e.message, /servers\[0\]\.module/);
    assert.equal(e.issues?.length, 1);
    return true;
  });
});
