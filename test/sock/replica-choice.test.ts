// Which replica a new connection or port-0 UDP bind goes to (src/sock/server.ts
// replicaForRequest): round-robin over the application's consecutive request numbers,
// drained replicas skipped, and the same request always to the same replica, so that a
// request a restarted SOCK receives again reaches the replica that already has it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { replicaForRequest } from '../../src/sock/server.js';

test('consecutive requests go round-robin over the replicas', () => {
  const none = (): boolean => false;
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map((q) => replicaForRequest(q, 4, none)), [1, 2, 3, 0, 1, 2, 3, 0]);
  assert.deepEqual([1, 2, 3].map((q) => replicaForRequest(q, 1, none)), [0, 0, 0]);
});

test('a drained replica is skipped for the next one; with all drained the first choice stands', () => {
  const drained1 = (r: number): boolean => r === 1;
  assert.deepEqual([4, 5, 6, 7].map((q) => replicaForRequest(q, 4, drained1)), [0, 2, 2, 3]);
  assert.equal(replicaForRequest(6, 4, () => true), 2);
});

test('the same request goes to the same replica however many came between (a re-delivered request after a SOCK restart)', () => {
  const none = (): boolean => false;
  const first = replicaForRequest(12345, 3, none);
  for (let q = 0; q < 100; q++) replicaForRequest(q, 3, none);
  assert.equal(replicaForRequest(12345, 3, none), first);
  assert.equal(replicaForRequest(2 ** 32 - 1, 3, none), (2 ** 32 - 1) % 3, 'request numbers are unsigned 32-bit words');
});
