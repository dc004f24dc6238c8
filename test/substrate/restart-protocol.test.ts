import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutstandingRequests, SeqDedup, seqBefore } from '../../src/substrate/restart-protocol.js';

test('seqBefore uses serial-number arithmetic across the u32 wrap (RFC 1982)', () => {
  const cases: [number, number, boolean][] = [[1, 2, true], [2, 1, false], [0xffffffff, 0, true], [0, 0xffffffff, false], [5, 5, false]];
  for (const [a, b, want] of cases) assert.equal(seqBefore(a, b), want, `${a} < ${b}`);
});

test('SeqDedup accepts each seq once, counts duplicates and gaps, and wraps', () => {
  const d = new SeqDedup(0xfffffffe);
  const verdicts = [0xfffffffe, 0xffffffff, 0xfffffffe, 0, 1, 0, 5, 6].map((s) => d.accept(s));
  assert.deepEqual(verdicts, ['new', 'new', 'duplicate', 'new', 'new', 'duplicate', 'gap', 'new']);
  assert.equal(d.duplicates, 2);
  assert.equal(d.gaps, 1);
  assert.equal(d.next, 7);
});

test('OutstandingRequests: a peer restart hands back unanswered requests; replies of the old generation are dropped', () => {
  const o = new OutstandingRequests<string>(1);
  const a = o.add('verdict for packet A');
  const b = o.add('verdict for packet B');
  const c = o.add('verdict for packet C');
  assert.equal(o.complete(a, 1), 'verdict for packet A');
  // The peer (say PF) crashes with B and C unanswered and comes back as generation 2.
  const resend = o.peerRestarted(2);
  assert.deepEqual(resend.map((x) => x.seq), [b, c]);
  assert.ok(resend.every((x) => x.sentToGeneration === 2));
  // A late reply from the dead generation is dropped; the new one counts.
  assert.equal(o.complete(b, 1), undefined);
  assert.equal(o.staleReplies, 1);
  assert.equal(o.complete(b, 2), 'verdict for packet B');
  assert.equal(o.cancel(c), 'verdict for packet C');
  assert.equal(o.size, 0);
  assert.equal(o.complete(999, 2), undefined);
});
