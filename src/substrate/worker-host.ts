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
import { monotonicMs } from './stats.js';

interface ActivateMessage { readonly kind: 'activate'; readonly assignment: HostAssignment }

async function main(): Promise<void> {
  const port = parentPort!;
  const preload = ((workerData as { preload?: string[] } | null)?.preload) ?? [];
  for (const m of preload) await import(moduleUrl(m));
  const report = (r: HostReport): void => port.postMessage(r);
  let stopping = false;
  port.once('message', (msg: ActivateMessage) => {
    const receivedAt = monotonicMs();
    void (async () => {
      const loop = await buildHost(msg.assignment, report);
      const builtAt = monotonicMs();
      // An exit() anywhere in a server: tell the supervisor at once.
      process.on('exit', (code) => { if (!stopping) port.postMessage({ kind: 'exiting', code }); });
      port.postMessage({ kind: 'running', receivedAt, builtAt });
      try {
        loop.run();
      } catch (err) {
        // Tell the supervisor before the thread unwinds; then crash for real.
        stopping = true;
        port.postMessage({ kind: 'crashing', error: err instanceof Error ? err.message : String(err) });
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
