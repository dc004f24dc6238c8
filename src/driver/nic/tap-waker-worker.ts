/**
 * The TAP waker thread (see tap-waker.ts): blocks in poll(2) on a TAP fd while
 * the driver has armed it, and rings the driver's doorbell when frames arrive.
 * It never reads a frame. It blocks its own thread (Atomics.wait, poll), so it
 * needs no event loop; it never logs (its parent's event loop does not run).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { countWakesIn, DoorbellRinger } from '../../substrate/doorbell.js';
import { WAIT_ERROR, WAIT_READABLE, loadTapAddon } from './tap.js';
import {
  WAKER_ARM, WAKER_RINGS, WAKER_RUNNING, WAKER_STATE, WAKER_STOP, WAKER_STOPPED, type TapWakerData,
} from './tap-waker.js';

/**
 * Longest poll(2) before looking at the stop flag again, ms: bounds how long stopping takes
 * (a driver's restart on a TAP waits for it; 250 ms made that 230-280 ms, 50 ms ~80 ms).
 */
const POLL_MS = 50;
/** After an error or hang-up on the fd, wait this long before ringing again, ms. */
const ERROR_BACKOFF_MS = 100;

const data = workerData as TapWakerData;
const addon = loadTapAddon();
const words = new Int32Array(data.control);
if (data.system !== null) countWakesIn(data.system);
const driver = new DoorbellRinger(data.driverDoorbell);
Atomics.store(words, WAKER_STATE, WAKER_RUNNING);
parentPort!.postMessage('running');

while (Atomics.load(words, WAKER_STOP) === 0) {
  if (Atomics.load(words, WAKER_ARM) === 0) {
    Atomics.wait(words, WAKER_ARM, 0, 1000);
    continue;
  }
  let events: number;
  try {
    events = addon.wait(data.fd, WAIT_READABLE, POLL_MS);
  } catch {
    events = WAIT_ERROR;
  }
  if (Atomics.load(words, WAKER_STOP) !== 0) break;
  if (events === 0) continue;
  if ((events & WAIT_READABLE) === 0) Atomics.wait(words, WAKER_STOP, 0, ERROR_BACKOFF_MS);
  Atomics.store(words, WAKER_ARM, 0);
  Atomics.add(words, WAKER_RINGS, 1);
  driver.ring();
}
Atomics.store(words, WAKER_STATE, WAKER_STOPPED);
parentPort!.close();
