/**
 * The I/O bridge thread (see io-bridge.ts): its event loop owns one link's
 * socket (UDP, VXLAN or a QEMU stream) and moves frames between that socket
 * and the NIC driver through two shared-memory frame pipes.
 *
 * - Receive: the link's frame sink puts every datagram's frame into the rx
 *   pipe as it arrives ('rx-queue-full' when the driver is behind); once per
 *   event-loop turn the bridge publishes its counters and rings the driver's
 *   doorbell (interrupt coalescing: one wake-up for a burst of datagrams).
 * - Transmit: the bridge parks on its own doorbell with Atomics.waitAsync (the
 *   event loop keeps running) and, when rung, sends what the tx pipe holds. If
 *   the socket pushes back (too many sends in flight) it leaves the rest in
 *   the pipe, so the pipe fills and the driver holds its frames.
 *
 * This thread never logs: its parent (the driver) does not run its event loop,
 * so console output would not get out. State and errors go to shared memory.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { countWakesIn, DoorbellRinger, DoorbellSleeper } from '../../substrate/doorbell.js';
import { contiguousSlots, type NicBackend } from './backend.js';
import {
  BRIDGE_CLOSED, BRIDGE_FAILED, BRIDGE_RUNNING, BridgeMemory, type BridgeHello, type BridgeWorkerData,
} from './io-bridge.js';
import { openNicBackend } from './open.js';
import { QueuedLink } from './queued-link.js';

/**
 * Longest park, ms. A stop rings, so this only bounds how stale the published
 * counters get when datagrams are dropped (foreign peer, bad encapsulation)
 * without any frame reaching the driver to trigger a publish.
 */
const PARK_MS = 250;
/** Wait before retrying when the socket has too many sends in flight, ms. */
const BACKOFF_MS = 1;

async function main(): Promise<void> {
  const data = workerData as BridgeWorkerData;
  const port = parentPort!;
  const mem = new BridgeMemory(data.control, data.pipeBytes);
  const hello = (h: BridgeHello): void => port.postMessage(h);
  let link: NicBackend;
  try {
    link = await openLink(data);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    mem.setError(err.code ?? err.message);
    mem.setState(BRIDGE_FAILED);
    hello({ kind: 'failed', code: err.code ?? 'ERR_NIC_BRIDGE', message: err.message });
    return;
  }
  process.on('uncaughtException', (e) => {
    mem.setError(e.message);
    mem.setState(BRIDGE_FAILED);
    process.exit(1);
  });

  if (data.system !== null) countWakesIn(data.system);
  const driver = new DoorbellRinger(data.driverDoorbell);
  const sleeper = new DoorbellSleeper(data.bridgeDoorbell);
  let flushPending = false;
  const flush = (): void => {
    flushPending = false;
    mem.publish(link.counters);
    driver.ring();
  };
  (link as QueuedLink).setFrameSink((frame) => {
    if (!mem.rx.put(frame)) return false;
    if (!flushPending) { flushPending = true; setImmediate(flush); }
    return true;
  });
  mem.setState(BRIDGE_RUNNING);
  hello({ kind: 'ready', linkKind: link.kind, name: link.name, mac: Array.from(link.mac), mtu: link.mtu });

  // Transmit: one frame at a time from the pipe through a one-slot staging buffer.
  const staging = contiguousSlots(new Uint8Array(data.pipeBytes), 1, data.pipeBytes);
  const tx = mem.tx;
  /** Sends what the tx pipe holds; false if the link pushed back. */
  const drain = (): boolean => {
    for (;;) {
      const len = tx.peekLength();
      if (len < 0) return true;
      tx.copyFrame(len, staging.memory, 0);
      staging.lengths[0] = len;
      if (link.transmit(staging, 1) === 0) return false;
      tx.skip(len);
    }
  };
  while (!mem.stopRequested) {
    const drained = drain();
    mem.publish(link.counters);
    if (!drained) { await sleep(BACKOFF_MS); continue; }
    await sleeper.parkAsync(PARK_MS, () => tx.isEmpty() && !mem.stopRequested);
  }
  (link as QueuedLink).setFrameSink(null);
  await link.close();
  mem.publish(link.counters);
  mem.setState(BRIDGE_CLOSED);
  port.close();
}

/** How long a busy address is retried: a crashed driver's bridge may still hold it. */
const ADDRESS_IN_USE_RETRY_MS = 1500;

/**
 * Opens the interface's link here (no bridge: this thread has an event loop).
 * EADDRINUSE is retried for a while: after a driver crash the supervisor may
 * start its successor before the dead thread's bridge has closed the socket.
 */
async function openLink(data: BridgeWorkerData): Promise<NicBackend> {
  const deadline = performance.now() + ADDRESS_IN_USE_RETRY_MS;
  let link: NicBackend;
  for (;;) {
    try {
      link = await openNicBackend(data.ifc);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || performance.now() > deadline) throw e;
      await sleep(50);
    }
  }
  if (!(link instanceof QueuedLink)) {
    await link.close();
    throw Object.assign(new Error(`link type ${data.ifc.link.type} needs no I/O bridge`), { code: 'ERR_NIC_BRIDGE' });
  }
  return link;
}

void main();
