/**
 * The module `newtos run` preloads into the application's process (`node --import`):
 * it brings up the newtos host that NEWTOS_RUN_CONFIG describes, lets the host's threads
 * not hold the process (the application's sockets and timers do), and puts Node's
 * networking modules on it (interpose.ts) before the application's first line runs.
 * The variable is removed so that the application's own child processes stay on the kernel.
 * NEWTOS_RUN_STATS=FILE: at exit, the host's fast-socket operation counts are written to FILE
 * as JSON (with `withoutMessagePct`), for benchmarks (bench/app.ts).
 */
import { writeFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { withoutMessagePct } from '../abi/socket-block.js';
import { createStack } from '../stack/host.js';
import { interpose } from './interpose.js';

// Worker threads inherit the --import (the host's own servers, the app's workers): only the
// main thread brings a host up.
if (isMainThread) await bringUp();

async function bringUp(): Promise<void> {
  const raw = process.env['NEWTOS_RUN_CONFIG'];
  delete process.env['NEWTOS_RUN_CONFIG'];
  if (raw === undefined) {
    process.stderr.write('newtos run: the preload needs NEWTOS_RUN_CONFIG (start the program with `newtos run ... -- node app.js`)\n');
    process.exit(1);
  }
  const { config, hosts } = JSON.parse(raw) as { config: unknown; hosts?: Record<string, string> };
  const statsFile = process.env['NEWTOS_RUN_STATS'];
  delete process.env['NEWTOS_RUN_STATS'];
  try {
    const stack = await createStack(config);
    stack.unref();
    if (statsFile !== undefined) {
      process.on('exit', () => {
        const s = stack.socketStats();
        writeFileSync(statsFile, JSON.stringify({ ...s, withoutMessagePct: withoutMessagePct(s) }));
      });
    }
    interpose(stack, hosts !== undefined ? { hosts } : {});
  } catch (e) {
    process.stderr.write(`newtos run: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
