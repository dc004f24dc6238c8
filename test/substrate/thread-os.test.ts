// A dying server thread lowers its own CPU priority (thread-os.ts): checked on a live worker
// thread through /proc, where Linux keeps each thread's nice value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { osThreadId, yieldTheCpu } from '../../src/substrate/thread-os.js';

/** Field 19 of /proc/self/task/TID/stat: the thread's nice value. */
function niceOf(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

test('yieldTheCpu gives one thread (not the process) the lowest priority', { timeout: 10_000 }, async (t) => {
  if (!existsSync('/proc/thread-self')) { t.skip('needs Linux /proc/thread-self'); return; }
  const main = osThreadId();
  assert.equal(main, process.pid, 'the main thread\'s id is the process id');
  const w = new Worker(`
    const { parentPort } = require('node:worker_threads');
    const { readlinkSync } = require('node:fs');
    parentPort.postMessage(Number(readlinkSync('/proc/thread-self').split('/').pop()));
    setInterval(() => {}, 1000);
  `, { eval: true });
  try {
    const tid = await new Promise<number>((resolve) => w.once('message', resolve));
    assert.ok(tid > 0 && tid !== main);
    const before = niceOf(tid);
    yieldTheCpu(tid);
    assert.equal(niceOf(tid), 19);
    assert.equal(niceOf(main), before, 'the other threads keep theirs');
    yieldTheCpu(0); // no thread id known: nothing happens, nothing throws
  } finally {
    await w.terminate();
  }
});
