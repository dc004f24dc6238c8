/**
 * The I/O bridge: how the NIC driver uses links whose sockets need an event
 * loop (Ethernet over UDP, VXLAN, QEMU streams: node:dgram and node:net).
 *
 * The driver's thread runs the server loop, which blocks in Atomics.wait when
 * idle, so its event loop never runs and a socket there would never deliver.
 * Instead each such link gets a small worker of its own (io-bridge-worker.ts)
 * whose event loop owns the socket. Frames cross between the two threads in
 * shared memory, like the virtual switch's pipes:
 *
 *   driver thread                          bridge thread (event loop)
 *   BridgeLink.transmit ── tx FramePipe ──▶ link.transmit ──▶ socket.send
 *   BridgeLink.receive  ◀── rx FramePipe ── link frame sink ◀── 'message'
 *
 * Waking, both ways by doorbells (src/substrate/doorbell.ts), so nothing polls:
 * - rx: after putting frames in the rx pipe (once per event-loop turn) the
 *   bridge rings the driver thread's doorbell. The driver's `hasWork` asks
 *   `nextDueMs()`, which looks at the rx pipe after the loop raised its sleeping
 *   flag: no wake-up is lost (the doorbell protocol).
 * - tx: the driver rings the bridge's own doorbell after a batch; the bridge
 *   parks on it with Atomics.waitAsync, so its event loop keeps serving the
 *   socket meanwhile.
 *
 * Shared control memory (`control`, written as noted):
 *   Int32 [0] state  (bridge: STARTING → RUNNING | FAILED, → CLOSED)
 *         [1] stop   (driver: 1 = close the link and exit)
 *         [2] length of the last error text (bridge)
 *   Float64 at COUNTERS_AT: rxFrames, rxBytes, txFrames, txBytes, then one per
 *         NIC_DROP_REASONS entry: the bridge's link counters, published by
 *         the bridge after every batch (statistics: a torn read is harmless).
 *   bytes at ERROR_AT: the last OS error code (UTF-8, bridge).
 *   rx pipe at PIPES_AT, tx pipe after it.
 * A failure after start (an exception in the bridge) sets state FAILED and the
 * error text; the driver shows it as `counters.lastError`.
 */
import { align64 } from '../../abi/socket-block.js';
import { Worker } from 'node:worker_threads';
import { NewtosError } from '../../errors.js';
import type { InterfaceConfig } from '../../config/stack-config.js';
import { DoorbellRinger, createDoorbell, waitAsync, wakeCountBlock } from '../../substrate/doorbell.js';
import {
  ETH_HEADER_LEN, NIC_DROP_REASONS, NicCounters, VLAN_TAG_LEN, wallClockMs,
  type FrameHook, type FrameSlots, type NicBackend,
} from './backend.js';
import { FRAME_RECORD_HEADER, FramePipe } from './frame-pipe.js';

export const BRIDGE_STARTING = 0;
export const BRIDGE_RUNNING = 1;
export const BRIDGE_FAILED = 2;
export const BRIDGE_CLOSED = 3;

const W_STATE = 0;
const W_STOP = 1;
const W_ERROR_LEN = 2;
const COUNTERS_AT = 64;
const COUNTER_SLOTS = 4 + NIC_DROP_REASONS.length;
const ERROR_AT = COUNTERS_AT + 8 * 32;
const ERROR_BYTES = 128;
const PIPES_AT = ERROR_AT + ERROR_BYTES;

/** Pipe size for a link of this MTU: at least 1 MiB and 32 largest frames. */
export function bridgePipeBytes(mtu: number): number {
  const record = FRAME_RECORD_HEADER + mtu + ETH_HEADER_LEN + VLAN_TAG_LEN;
  return Math.max(1 << 20, 32 * record);
}

function pipeStride(pipeBytes: number): number {
  return align64(FramePipe.bytesNeeded(pipeBytes));
}

/** The shared memory of one bridge, as either side sees it. */
export class BridgeMemory {
  readonly words: Int32Array;
  readonly counters: Float64Array;
  private readonly errorText: Uint8Array;
  /** Bridge → driver. */
  readonly rx: FramePipe;
  /** Driver → bridge. */
  readonly tx: FramePipe;

  static create(pipeBytes: number): SharedArrayBuffer {
    return new SharedArrayBuffer(PIPES_AT + 2 * pipeStride(pipeBytes));
  }

  constructor(readonly control: SharedArrayBuffer, readonly pipeBytes: number) {
    this.words = new Int32Array(control, 0, 16);
    this.counters = new Float64Array(control, COUNTERS_AT, COUNTER_SLOTS);
    this.errorText = new Uint8Array(control, ERROR_AT, ERROR_BYTES);
    this.rx = new FramePipe(control, PIPES_AT, pipeBytes);
    this.tx = new FramePipe(control, PIPES_AT + pipeStride(pipeBytes), pipeBytes);
  }

  get state(): number { return Atomics.load(this.words, W_STATE); }
  setState(s: number): void { Atomics.store(this.words, W_STATE, s); Atomics.notify(this.words, W_STATE); }
  get stopRequested(): boolean { return Atomics.load(this.words, W_STOP) !== 0; }
  requestStop(): void { Atomics.store(this.words, W_STOP, 1); }

  /** Bridge: publish its link's counters. */
  publish(c: NicCounters): void {
    const s = this.counters;
    s[0] = c.rxFrames; s[1] = c.rxBytes; s[2] = c.txFrames; s[3] = c.txBytes;
    for (let i = 0; i < NIC_DROP_REASONS.length; i++) s[4 + i] = c.drops[NIC_DROP_REASONS[i]!];
    if (c.lastError !== '') this.setError(c.lastError);
  }

  setError(text: string): void {
    const bytes = Buffer.from(text, 'utf8').subarray(0, ERROR_BYTES);
    if (bytes.length === Atomics.load(this.words, W_ERROR_LEN) && Buffer.from(this.errorText.subarray(0, bytes.length)).equals(bytes)) return;
    this.errorText.set(bytes);
    Atomics.store(this.words, W_ERROR_LEN, bytes.length);
  }

  errorMessage(): string {
    const n = Atomics.load(this.words, W_ERROR_LEN);
    return Buffer.from(this.errorText.subarray(0, n)).toString('utf8');
  }
}

/** What the driver posts to the bridge worker. */
export interface BridgeWorkerData {
  readonly ifc: InterfaceConfig;
  readonly control: SharedArrayBuffer;
  readonly pipeBytes: number;
  /** The bridge's own doorbell (the driver rings it after transmitting). */
  readonly bridgeDoorbell: SharedArrayBuffer;
  /** The driver thread's doorbell (the bridge rings it after receiving). */
  readonly driverDoorbell: SharedArrayBuffer;
  /** The spawning thread's wake-count block (doorbell.ts countWakesIn), if any. */
  readonly system: SharedArrayBuffer | null;
}

/** The bridge's first message: the link it opened, or why it could not. */
export type BridgeHello =
  | { readonly kind: 'ready'; readonly linkKind: string; readonly name: string; readonly mac: readonly number[]; readonly mtu: number }
  | { readonly kind: 'failed'; readonly code: string; readonly message: string };

const WORKER_URL = new URL('./io-bridge-worker.js', import.meta.url);

/** The link as a user wrote it, for errors: 'udp dgram link 127.0.0.1:5555 to 127.0.0.1:5556'. */
function linkText(ifc: InterfaceConfig): string {
  const l = ifc.link;
  if (l.type !== 'udp') return `${l.type} link`;
  return `udp ${l.mode} link ${l.local.host}:${l.local.port} to ${l.remote.host}:${l.remote.port}`;
}

/**
 * The driver's side of a bridged link: a NicBackend over the two pipes. Use it
 * only in the thread that opened it (the driver's).
 */
export class BridgeLink implements NicBackend {
  readonly kind: string;
  readonly name: string;
  readonly mac: Uint8Array;
  readonly mtu: number;
  /** Drops decided on this side (frames that cannot cross the pipes). */
  private readonly local = new NicCounters();
  private readonly merged = new NicCounters();
  private readonly bridgeBell: DoorbellRinger;
  private hook: FrameHook | null = null;
  private closed = false;
  private readonly maxFrame: number;

  private constructor(
    private readonly mem: BridgeMemory,
    private readonly worker: Worker,
    bridgeDoorbell: SharedArrayBuffer,
    hello: BridgeHello & { kind: 'ready' },
  ) {
    this.kind = hello.linkKind;
    this.name = hello.name;
    this.mac = Uint8Array.from(hello.mac);
    this.mtu = hello.mtu;
    this.maxFrame = Math.min(hello.mtu + ETH_HEADER_LEN + VLAN_TAG_LEN, mem.pipeBytes - FRAME_RECORD_HEADER);
    this.bridgeBell = new DoorbellRinger(bridgeDoorbell);
  }

  /**
   * Starts a bridge thread that opens the interface's link (UDP, VXLAN,
   * stream) and resolves once its socket is bound or connected. Rejects with
   * the link's own error (e.g. EADDRINUSE) if it cannot be opened.
   */
  static async open(ifc: InterfaceConfig, driverDoorbell: SharedArrayBuffer): Promise<BridgeLink> {
    const pipeBytes = bridgePipeBytes(ifc.mtu ?? 1500);
    const control = BridgeMemory.create(pipeBytes);
    const bridgeDoorbell = createDoorbell();
    const data: BridgeWorkerData = { ifc, control, pipeBytes, bridgeDoorbell, driverDoorbell, system: wakeCountBlock() };
    const worker = new Worker(WORKER_URL, { workerData: data, stdout: true, stderr: true });
    const hello = await new Promise<BridgeHello>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new NewtosError('ERR_NIC_BRIDGE', `I/O bridge for ${ifc.name} exited with ${code} before opening its link`)));
    });
    worker.removeAllListeners();
    const mem = new BridgeMemory(control, pipeBytes);
    // Later errors arrive here only when this thread's event loop runs again
    // (after the driver stopped); the bridge also records them in shared memory.
    worker.on('error', (e) => mem.setError(e.message));
    if (hello.kind === 'failed') {
      await worker.terminate();
      throw new NewtosError(hello.code, `interface ${ifc.name} (${linkText(ifc)}): ${hello.message}${hello.code === 'EADDRINUSE' ? ' (address already in use)' : ''}`);
    }
    worker.unref(); // the bridge never keeps the driver's thread alive
    return new BridgeLink(mem, worker, bridgeDoorbell, hello);
  }

  /** The bridge link's counters (published by the bridge) plus drops on this side. */
  get counters(): NicCounters {
    const m = this.merged;
    const s = this.mem.counters;
    m.rxFrames = s[0]!; m.rxBytes = s[1]!; m.txFrames = s[2]!; m.txBytes = s[3]!;
    for (let i = 0; i < NIC_DROP_REASONS.length; i++) {
      const r = NIC_DROP_REASONS[i]!;
      m.drops[r] = s[4 + i]! + this.local.drops[r];
    }
    const err = this.mem.errorMessage();
    m.lastError = this.mem.state === BRIDGE_FAILED ? `bridge failed: ${err}` : err;
    return m;
  }

  receive(slots: FrameSlots, max: number): number {
    this.assertOpen();
    const rx = this.mem.rx;
    const limit = Math.min(max, slots.offsets.length, slots.lengths.length);
    let n = 0;
    while (n < limit) {
      const len = rx.peekLength();
      if (len < 0) break;
      if (len > slots.capacity) {
        this.local.drop('rx-oversize');
        rx.skip(len);
        continue;
      }
      const off = slots.offsets[n]!;
      rx.copyFrame(len, slots.memory, off);
      rx.skip(len);
      slots.lengths[n] = len;
      if (slots.flags !== undefined) slots.flags[n] = 0;
      if (this.hook !== null) this.hook('rx', slots.memory.subarray(off, off + len), wallClockMs());
      n++;
    }
    return n;
  }

  transmit(slots: FrameSlots, count: number): number {
    this.assertOpen();
    const tx = this.mem.tx;
    const limit = Math.min(count, slots.offsets.length, slots.lengths.length);
    let i = 0;
    let put = 0;
    for (; i < limit; i++) {
      const off = slots.offsets[i]!;
      const len = slots.lengths[i]!;
      if (len < ETH_HEADER_LEN) { this.local.drop('tx-runt'); continue; }
      if (len > this.maxFrame) { this.local.drop('tx-oversize'); continue; }
      const frame = slots.memory.subarray(off, off + len);
      if (!tx.put(frame)) break; // the bridge is behind: the driver retries
      put++;
      if (this.hook !== null) this.hook('tx', frame, wallClockMs());
    }
    if (put > 0) this.bridgeBell.ring();
    return i;
  }

  /** 0 when a received frame waits in the rx pipe, else Infinity (the bridge rings when one arrives). */
  nextDueMs(): number {
    return this.mem.rx.isEmpty() ? Infinity : 0;
  }

  /** The bridge thread's state (BRIDGE_*). */
  get bridgeState(): number {
    return this.mem.state;
  }

  setFrameHook(hook: FrameHook | null): void {
    this.hook = hook;
  }

  /** Asks the bridge to close its socket and exit; resolves when it did (or after 2 s, terminating it). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.mem.requestStop();
    this.bridgeBell.ringAlways();
    const deadline = performance.now() + 2000;
    for (let s = this.mem.state; s !== BRIDGE_CLOSED && s !== BRIDGE_FAILED; s = this.mem.state) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      await waitAsync(this.mem.words, W_STATE, s, left);
    }
    if (this.mem.state !== BRIDGE_CLOSED) await this.worker.terminate();
  }

  private assertOpen(): void {
    if (this.closed) throw new NewtosError('ERR_NIC_CLOSED', `${this.kind} link ${this.name} is closed`);
  }
}
