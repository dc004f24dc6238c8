// Loaded into every test file's process by the test command (`node --import
// ./dist/test/support/exit-guard.js --test ...`): once a file's tests have all ended, a
// process still held open by something a failed test left behind (a stack's worker
// threads, a socket) is ended 30 s later, so one stuck file fails with its results
// instead of keeping the whole suite, and CI, waiting forever. A process that ends by
// itself is not held back: the timer is unref'd. Worker threads (which inherit the
// flag) and processes that are not test runs do nothing.
import { isMainThread } from 'node:worker_threads';

const GRACE_MS = 30_000;

if (isMainThread && process.env['NODE_TEST_CONTEXT'] !== undefined) {
  const { after } = await import('node:test');
  after(() => {
    setTimeout(() => {
      process.stderr.write(`exit guard: still running ${GRACE_MS / 1000} s after the last test of ${process.argv[1] ?? 'this file'}; ending it\n`);
      process.exit(process.exitCode ?? 0);
    }, GRACE_MS).unref();
  });
}
