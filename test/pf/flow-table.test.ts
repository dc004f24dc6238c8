// The packet filter's flow table in memory that outlives its writer: a model check against a
// Map, and a successor's view after its predecessor died in the middle of a change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowPhase, FlowTable, flowTableBytes } from '../../src/pf/flow-table.js';

/** A small deterministic generator (tests must be repeatable). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s; };
}

type Flow = [number, number, number, number, number];
const key = (f: Flow): string => f.join('|');

test('flow table: inserts, finds, removes and sweeps as a Map would, over 20000 random operations', () => {
  const capacity = 500;
  const t = new FlowTable(new SharedArrayBuffer(flowTableBytes(capacity)), 0, capacity);
  t.open();
  const model = new Map<string, { flow: Flow; expiresAt: number }>();
  const next = rng(7);
  // Few distinct flows, so operations hit the same ones again.
  const flows: Flow[] = Array.from({ length: 800 }, () => [6 + (next() % 2) * 11, next() | 0, next() & 0xffff, next() | 0, next() & 0xffff]);
  let now = 0;
  for (let i = 0; i < 20_000; i++) {
    now += 1;
    const f = flows[next() % flows.length]!;
    const op = next() % 10;
    const e = t.find(...f);
    assert.equal(e >= 0, model.has(key(f)), `op ${i}: find agrees with the model`);
    if (op < 5 && e < 0) {
      const r = t.insert(...f, now + (next() % 300));
      if (model.size >= capacity) assert.equal(r, -1, 'full');
      else { assert.ok(r >= 0); model.set(key(f), { flow: f, expiresAt: t.expiresAt(r) }); }
    } else if (op < 8 && e >= 0) {
      assert.equal(t.remove(e), true);
      model.delete(key(f));
    } else if (op === 9) {
      const gone = t.sweep(now);
      let expected = 0;
      for (const [k, v] of model) if (v.expiresAt <= now) { model.delete(k); expected++; }
      assert.equal(gone, expected, 'sweep removed the expired ones');
    }
    assert.equal(t.size, model.size);
  }
  for (const { flow, expiresAt } of model.values()) assert.equal(t.expiresAt(t.find(...flow)), expiresAt);
});

test('flow table: a successor over the same memory finds every flow, its expiry and phase', () => {
  const sab = new SharedArrayBuffer(flowTableBytes(64));
  const a = new FlowTable(sab, 0, 64);
  a.open();
  const e = a.insert(6, 0x0a000001, 80, 0x0a000002, 40000, 1234.5);
  a.setPhase(e, FlowPhase.Closing);
  a.insert(17, 0x0a000001, 53, 0x0a000003, 5353, 99);
  const b = new FlowTable(sab, 0, 64);
  b.open();
  assert.equal(b.size, 2);
  const f = b.find(6, 0x0a000001, 80, 0x0a000002, 40000);
  assert.ok(f >= 0);
  assert.equal(b.expiresAt(f), 1234.5);
  assert.equal(b.phase(f), FlowPhase.Closing);
  assert.equal(b.find(6, 0x0a000002, 40000, 0x0a000001, 80), -1, 'a flow is keyed by the direction that made it');
  assert.equal(b.repairs, 0, 'nothing was half done');
  assert.throws(() => new FlowTable(sab, 0, 63).open(), /laid out for 64 entries/);
  assert.throws(() => new FlowTable(sab, 0, 128), /needs \d+ bytes/);
});

test('flow table: after a writer died mid-insert or mid-remove the successor repairs count and free list, losing no linked flow', () => {
  const capacity = 16;
  const sab = new SharedArrayBuffer(flowTableBytes(capacity));
  const a = new FlowTable(sab, 0, capacity);
  a.open();
  const flows: Flow[] = Array.from({ length: 10 }, (_, i) => [6, 0x0a000001, 1000 + i, 0x0a000002, 80]);
  const entries = flows.map((f) => a.insert(...f, 1e9));
  a.remove(entries[3]!);
  // Header words (flow-table.ts): 0 pending, 1 count, 2 high, 3 free.
  const w = new Int32Array(sab);
  // Died mid-insert: an entry taken from the never-used tail, never linked.
  w[0] = 1; w[2] = w[2]! + 1;
  let b = new FlowTable(sab, 0, capacity);
  b.open();
  assert.equal(b.repairs, 1);
  assert.equal(b.size, 9);
  flows.forEach((f, i) => assert.equal(b.find(...f) >= 0, i !== 3, `flow ${i}`));
  // Every entry is usable again: 16 - 9 more fit, then the table is full.
  const more: Flow[] = Array.from({ length: capacity - 9 }, (_, i) => [17, 0x0a000009, 2000 + i, 0x0a000002, 53]);
  for (const f of more) assert.ok(b.insert(...f, 1e9) >= 0);
  assert.equal(b.insert(17, 1, 1, 2, 2, 1e9), -1);
  // Died mid-remove: unlinked, never put in the free list, count not lowered.
  const victim = b.find(...more[0]!);
  w[0] = 1;
  const bucketLinks = Array.from(w.subarray(8, 8 + 16));
  const bucket = bucketLinks.findIndex((l) => l === victim + 1);
  if (bucket >= 0) w[8 + bucket] = w[8 + 16 + victim * 8]!; // the chain skips it
  else {
    // It sits inside a chain: let its predecessor skip it.
    for (let e = 0; e < capacity; e++) if (w[8 + 16 + e * 8] === victim + 1) w[8 + 16 + e * 8] = w[8 + 16 + victim * 8]!;
  }
  b = new FlowTable(sab, 0, capacity);
  b.open();
  assert.equal(b.size, capacity - 1);
  assert.equal(b.find(...more[0]!), -1);
  assert.ok(b.insert(...more[0]!, 1e9) >= 0, 'the entry went back to the free list');
});
