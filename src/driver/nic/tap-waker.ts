/**
 * The TAP waker: gives a TAP device a doorbell, so an idle NIC driver parks
 * instead of looking at the device every millisecond.
 *
 * A small helper thread (tap-waker-worker.ts) blocks in poll(2) on the TAP fd
 * (the addon's `wait`) and rings the driver thread's doorbell when frames
 * arrive. Frames never pass through it: the driver still reads them itself,
 * in batches, straight into its pool. The waker only watches while the driver
 * asks it to (armed), so a busy driver costs it nothing and it never spins on
 * a readable fd the driver has not drained yet:
 *
 *   driver, about to park (hasWork → nextDueMs(true); its pollAt on every pass
 *   asks nextDueMs() without arming):
 *       ARM == 1            → Infinity   (the waker is watching and will ring)
 *       fd readable now     → 0          (do not park)
 *       else  ARM := 1, notify → Infinity
 *   waker:  wait while ARM == 0; poll(fd) while ARM == 1;
 *           readable → ARM := 0, ring the driver's doorbell.
 *
 * No wake-up is lost: the driver raised its sleeping flag before reading ARM;
 * if it read 1, the waker's later store of 0 is followed by its ring, which
 * sees the flag and notifies. If it read 0, it looks at the fd itself.
 *
 * Shared words (`control`, Int32): [0] ARM (both), [1] STOP (driver),
 * [2] STATE (waker: 1 running, 3 stopped), [3] rings sent (waker).
 */
import { Worker } from 'node:worker_threads';
import { wakeCountBlock } from '../../substrate/doorbell.js';

export const WAKER_ARM = 0;
export const WAKER_STOP = 1;
export const WAKER_STATE = 2;
export const WAKER_RINGS = 3;
export const WAKER_RUNNING = 1;
export const WAKER_STOPPED = 3;

/** What the driver posts to the waker thread. */
export interface TapWakerData {
  readonly fd: number;
  readonly control: SharedArrayBuffer;
  readonly driverDoorbell: SharedArrayBuffer;
  /** The spawning thread's wake-count block (doorbell.ts countWakesIn), if any. */
  readonly system: SharedArrayBuffer | null;
}

const WORKER_URL = new URL('./tap-waker-worker.js', import.meta.url);

/** The driver's handle on a TAP device's waker thread. */
export class TapWaker {
  private readonly words: Int32Array;

  private constructor(private readonly worker: Worker, control: SharedArrayBuffer) {
    this.words = new Int32Array(control);
  }

  /** Starts the waker for `fd`; resolves once it runs (rejects if it could not load the addon). */
  static async start(fd: number, driverDoorbell: SharedArrayBuffer): Promise<TapWaker> {
    const waker = TapWaker.spawn(fd, driverDoorbell);
    await waker.ready;
    return waker;
  }

  /**
   * Starts the waker for `fd` without waiting for it: a thread start takes 20-150 ms here,
   * which a restarting driver should not wait for. Until `running`, its owner polls the fd.
   * `ready` settles once it runs (rejects if it could not).
   */
  static spawn(fd: number, driverDoorbell: SharedArrayBuffer): TapWaker {
    const control = new SharedArrayBuffer(16);
    const data: TapWakerData = { fd, control, driverDoorbell, system: wakeCountBlock() };
    const worker = new Worker(WORKER_URL, { workerData: data });
    const waker = new TapWaker(worker, control);
    waker.ready = new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`TAP waker exited with ${code}`)));
    }).finally(() => {
      worker.removeAllListeners();
      worker.on('error', () => { /* seen only after the driver stopped; the driver falls back to nothing */ });
      worker.unref(); // once it runs: until then it keeps a waiting owner's event loop alive
    });
    waker.ready.catch(() => { /* the owner keeps polling the device */ });
    return waker;
  }

  ready: Promise<void> = Promise.resolve();

  /** True once the thread watches for its owner (before that, the owner polls the device). */
  get running(): boolean {
    return Atomics.load(this.words, WAKER_STATE) === WAKER_RUNNING;
  }

  /** True when the waker is watching the fd (it will ring when frames arrive). */
  get armed(): boolean {
    return Atomics.load(this.words, WAKER_ARM) === 1;
  }

  /** Asks the waker to watch the fd. */
  arm(): void {
    if (Atomics.load(this.words, WAKER_ARM) === 1) return;
    Atomics.store(this.words, WAKER_ARM, 1);
    Atomics.notify(this.words, WAKER_ARM);
  }

  /** Doorbell rings the waker sent so far. */
  get rings(): number {
    return Atomics.load(this.words, WAKER_RINGS);
  }

  /**
   * Stops the waker. Call before closing the fd; the waker notices within its
   * poll timeout (it cannot be interrupted inside poll(2)).
   */
  stop(): void {
    Atomics.store(this.words, WAKER_STOP, 1);
    Atomics.store(this.words, WAKER_ARM, 1);
    Atomics.notify(this.words, WAKER_ARM);
  }

  get stopped(): boolean {
    return Atomics.load(this.words, WAKER_STATE) === WAKER_STOPPED;
  }

  /** Terminates the thread (after stop, when it must be gone now). */
  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}
