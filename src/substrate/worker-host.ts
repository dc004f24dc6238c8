/**
 * Worker entry for every server thread. Started as a warm spare: it imports
 * the substrate and the manifest's server modules ahead of time, says
 * 'spare-ready', and waits. The supervisor activates it with a HostAssignment
 * (only the endpoints the manifest grants its servers); it builds them, says
 * 'running' and runs the server loop on this thread until told to stop.
 *
 * Or the supervisor arms it as its group's warm standby (takeover.ts): it builds
 * the next generation at once, then waits on the doorbell's standby word; the
 * dying thread (or the supervisor) promotes it, and it takes over without a
 * message from anyone.
 *
 * workerData: { preload: string[] }   (module paths / file URLs)
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildHost, moduleUrl, type HostAssignment, type HostReport } from './host.js';
import { ControlBlock, createControlBlock, monotonicMs } from './stats.js';
import { createRing } from './ring.js';
import { createDoorbell, DoorbellRinger, DoorbellSleeper } from './doorbell.js';
import { RingIn, RingOut } from './channel.js';
import { DEFAULT_POLLING, ServerLoop } from './server-loop.js';
import { PoolDirectory } from './pool.js';
import { BELL_STANDBY, BELL_TID, MSG_WORDS, SYS_WORDS } from './layout.js';
import { osThreadId, yieldTheCpu } from './thread-os.js';
import {
  deathTime, promoteStandby, reclaimFor, releaseDeadLoop, STANDBY_ARMED, STANDBY_ARMING, STANDBY_PROMOTED, type Reclaimed,
} from './takeover.js';

interface ActivateMessage { readonly kind: 'activate'; readonly assignment: HostAssignment }

/** What a standby must give back before it runs: per server, the pools the dead one may hold buffers of. */
export interface StandbyTakeover {
  readonly reclaimPools: readonly (readonly SharedArrayBuffer[])[];
}

interface ArmMessage { readonly kind: 'arm'; readonly assignment: HostAssignment; readonly takeover: StandbyTakeover }

/** How the standby's takeover went, in its 'running' report. */
export interface StandbyReport {
  /** When its predecessor died (the promoter's clock reading). */
  readonly deathAt: number;
  /** When it woke on the standby word. */
  readonly promotedAt: number;
  /** Per server (assignment order): the buffers given back. */
  readonly reclaimed: readonly Reclaimed[];
}

/** How long the standby sleeps on its word between looks at its own event loop (a stop, a terminate). */
const STANDBY_WAIT_MS = 100;

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

async function main(): Promise<void> {
  const port = parentPort!;
  const preload = ((workerData as { preload?: string[] } | null)?.preload) ?? [];
  for (const m of preload) await import(moduleUrl(m));
  warmUp();
  const report = (r: HostReport): void => port.postMessage(r);
  let stopping = false;
  port.once('message', (msg: ActivateMessage | ArmMessage) => {
    let receivedAt = monotonicMs();
    const bellSab = msg.assignment.doorbell;
    void (async () => {
      const loop = await buildHost(msg.assignment, report);
      let builtAt = monotonicMs();
      let standby: StandbyReport | undefined;
      if (msg.kind === 'arm') {
        loop.rehearse();
        standby = await waitForPromotion(msg, port);
        if (standby === undefined) return; // dropped: the supervisor terminates this thread
        loop.resync();
        receivedAt = standby.promotedAt; builtAt = monotonicMs();
      }
      // This thread's OS id, for the supervisor's thread monitor to pin it (Linux only).
      const tid = osThreadId();
      Atomics.store(new Int32Array(bellSab), BELL_TID, tid);
      // A dying thread hands over to its standby, which runs on: what is left of this thread
      // must not take CPU from it.
      const handOver = (): void => { if (promoteStandby(bellSab, monotonicMs())) yieldTheCpu(tid); };
      // An exit() anywhere in a server: promote the standby and tell the supervisor at once.
      process.on('exit', (code) => {
        if (stopping) return;
        handOver();
        port.postMessage({ kind: 'exiting', code });
      });
      port.postMessage({ kind: 'running', receivedAt, builtAt, ...(standby !== undefined ? { standby } : {}) });
      try {
        loop.run();
      } catch (err) {
        // Hand over to the standby and tell the supervisor before the thread unwinds; then crash for real.
        stopping = true;
        handOver();
        port.postMessage({ kind: 'crashing', error: err instanceof Error ? err.message : String(err), name: err instanceof Error ? err.name : 'Error' });
        throw err;
      }
      stopping = true;
      if (loop.retired) {
        // Its servers go on in another thread: end this one (a TAP fd closes with it).
        port.postMessage({ kind: 'retired' });
        process.exit(0);
      }
      port.postMessage({ kind: 'stopped' });
      port.close();
    })().catch((err: unknown) => {
      // Surface as an uncaught error: the supervisor's 'error' handler sees a crash.
      setImmediate(() => { throw err; });
    });
  });
  port.postMessage({ kind: 'spare-ready' });
}

/** A buffer holder index no server has: a takeover scan for it finds nothing and writes nothing. */
const NO_SUCH_HOLDER = 1 << 20;

/**
 * Runs the takeover's scans once ahead, on the real rings and pools but for a holder that does
 * not exist (read only): they run compiled, not cold, when the standby takes over (they were
 * most of its takeover time, ~0.6 ms, before).
 */
function rehearseTakeover(msg: ArmMessage): void {
  msg.assignment.servers.forEach((s, i) => {
    for (let k = 0; k < 3; k++) reclaimFor(NO_SUCH_HOLDER, s.inputs.flatMap((c) => c.sab !== undefined ? [c.sab] : []), msg.takeover.reclaimPools[i] ?? []);
  });
}

/**
 * A built standby: says it is armed (unless the supervisor dropped it meanwhile), sleeps on the
 * standby word until promoted, then does the dead thread's takeover steps (takeover.ts) and
 * returns what it found; undefined when dropped.
 */
async function waitForPromotion(msg: ArmMessage, port: NonNullable<typeof parentPort>): Promise<StandbyReport | undefined> {
  const bell = new Int32Array(msg.assignment.doorbell);
  rehearseTakeover(msg);
  if (Atomics.compareExchange(bell, BELL_STANDBY, STANDBY_ARMING, STANDBY_ARMED) !== STANDBY_ARMING) return undefined;
  port.postMessage({ kind: 'armed' });
  for (;;) {
    // Atomics.wait blocks this thread's event loop; between waits it runs, so a terminate or
    // a stop is never held up longer than one wait.
    Atomics.wait(bell, BELL_STANDBY, STANDBY_ARMED, STANDBY_WAIT_MS);
    const state = Atomics.load(bell, BELL_STANDBY);
    if (state === STANDBY_PROMOTED) break;
    if (state !== STANDBY_ARMED) return undefined;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const promotedAt = monotonicMs();
  const a = msg.assignment;
  const reclaimed: Reclaimed[] = [];
  a.servers.forEach((s, i) => {
    const cb = new ControlBlock(s.controlBlock);
    reclaimed.push(reclaimFor(s.index, s.inputs.flatMap((c) => c.sab !== undefined ? [c.sab] : []), msg.takeover.reclaimPools[i] ?? []));
    cb.prepareSuccessor(s.generation, true);
  });
  // The peers look at the generation words at once (server-loop.ts watchPeers).
  const bells = new Set(a.servers.flatMap((s) => [...s.inputs, ...s.outputs].map((g) => g.peerBell)));
  for (const b of bells) if (b !== a.doorbell) new DoorbellRinger(b).ringAlways();
  releaseDeadLoop(bell, new Int32Array(a.system));
  return { deathAt: deathTime(a.doorbell), promotedAt, reclaimed };
}

void main();
