/**
 * Worker entry for every server thread. Started as a warm spare: it imports
 * the substrate and the manifest's server modules ahead of time, says
 * 'spare-ready', and waits. The supervisor activates it with a HostAssignment
 * (only the endpoints the manifest grants its servers); it builds them, says
 * 'running' and runs the server loop on this thread until told to stop.
 *
 * workerData: { preload: string[] }   (module paths / file URLs)
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildHost, moduleUrl, type HostAssignment, type HostReport } from './host.js';
import { ControlBlock, createControlBlock, monotonicMs } from './stats.js';
import { createRing } from './ring.js';
import { createDoorbell, DoorbellSleeper } from './doorbell.js';
import { RingIn, RingOut } from './channel.js';
import { DEFAULT_POLLING, ServerLoop } from './server-loop.js';
import { PoolDirectory } from './pool.js';
import { BELL_TID, MSG_WORDS, SYS_WORDS } from './layout.js';
import { readlinkSync } from 'node:fs';

interface ActivateMessage { readonly kind: 'activate'; readonly assignment: HostAssignment }

/**
 * Runs the substrate's hot path once on private memory (a ring between two
 * endpoints, a no-op core, a few loop iterations) so a successor does not pay
 * for compiling it after a crash. No server code runs, nothing is reported.
 */
function warmUp(): void {
  const ring = createRing(64, MSG_WORDS);
  const bell = createDoorbell();
  const out = new RingOut('out', 'self', ring, bell);
  const inp = new RingIn('in', 'self', ring, bell);
  const cb = new ControlBlock(createControlBlock());
  const loop = new ServerLoop({
    servers: [{ name: 'warm-up', core: { onMessage: () => true }, inputs: [inp], outputs: [out], cb, pools: [], buffers: new PoolDirectory(0) }],
    sleeper: new DoorbellSleeper(bell),
    system: new Int32Array(new SharedArrayBuffer(SYS_WORDS * 4)),
    polling: { ...DEFAULT_POLLING, mode: 'busy' },
    control: null,
  });
  for (let round = 0; round < 50; round++) {
    for (let k = 0; k < 32; k++) out.send(0, k, k);
    loop.iterate();
  }
}

/** The calling thread's OS thread id from /proc/thread-self ("PID/task/TID"); 0 where there is none. */
function osThreadId(): number {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : 0;
  } catch {
    return 0;
  }
}

async function main(): Promise<void> {
  const port = parentPort!;
  const preload = ((workerData as { preload?: string[] } | null)?.preload) ?? [];
  for (const m of preload) await import(moduleUrl(m));
  warmUp();
  const report = (r: HostReport): void => port.postMessage(r);
  let stopping = false;
  port.once('message', (msg: ActivateMessage) => {
    const receivedAt = monotonicMs();
    void (async () => {
      const loop = await buildHost(msg.assignment, report);
      // This thread's OS id, for the supervisor's thread monitor to pin it (Linux only).
      Atomics.store(new Int32Array(msg.assignment.doorbell), BELL_TID, osThreadId());
      const builtAt = monotonicMs();
      // An exit() anywhere in a server: tell the supervisor at once.
      process.on('exit', (code) => { if (!stopping) port.postMessage({ kind: 'exiting', code }); });
      port.postMessage({ kind: 'running', receivedAt, builtAt });
      try {
        loop.run();
      } catch (err) {
        // Tell the supervisor before the thread unwinds; then crash for real.
        stopping = true;
        port.postMessage({ kind: 'crashing', error: err instanceof Error ? err.message : String(err), name: err instanceof Error ? err.name : 'Error' });
        throw err;
      }
      stopping = true;
      port.postMessage({ kind: 'stopped' });
      port.close();
    })().catch((err: unknown) => {
      // Surface as an uncaught error: the supervisor's 'error' handler sees a crash.
      setImmediate(() => { throw err; });
    });
  });
  port.postMessage({ kind: 'spare-ready' });
}

void main();
