/**
 * Per-server statistics and liveness in shared memory (the control block,
 * layout.ts CB_*). The server's loop writes its counters with plain stores
 * (it is their only writer; aligned 32-bit stores never tear); anyone holding
 * the SAB (the supervisor, a monitor, a live view) reads them at any time
 * without sending the server a message.
 *
 * Per-channel counters come for free from the rings themselves: a ring's
 * TAIL is the number of messages ever published on it and HEAD the number
 * freed, so the supervisor derives msgs in/out per channel and occupancy
 * from them (`ringCounters`, `ringOccupancy`).
 */
import {
  CB_BACKPRESSURE, CB_BYTES, CB_F64_BUSY_MS, CB_F64_FAULT_AT, CB_F64_FIRST_MSG_AT, CB_F64_IDLE_MS,
  CB_GENERATION, CB_HEARTBEAT, CB_MSGS_IN, CB_MSGS_OUT, CB_PARKS, CB_POOL_EXHAUSTED, CB_RESTARTS,
  CB_SPINS, CB_STALE_DROPS, CB_STATE, CB_WAKEUPS, ServerState,
} from './layout.js';

export function createControlBlock(): SharedArrayBuffer {
  return new SharedArrayBuffer(CB_BYTES);
}

/** Monotonic milliseconds on a clock every thread of the process shares. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Writer/reader over one control block. */
export class ControlBlock {
  readonly i32: Int32Array;
  readonly f64: Float64Array;

  constructor(readonly sab: SharedArrayBuffer) {
    this.i32 = new Int32Array(sab);
    this.f64 = new Float64Array(sab);
  }

  get generation(): number { return Atomics.load(this.i32, CB_GENERATION); }
  get heartbeat(): number { return Atomics.load(this.i32, CB_HEARTBEAT); }
  get state(): number { return Atomics.load(this.i32, CB_STATE); }
  get msgsIn(): number { return Atomics.load(this.i32, CB_MSGS_IN) >>> 0; }
  get busyMs(): number { return this.f64[CB_F64_BUSY_MS]!; }
  set state(s: number) { Atomics.store(this.i32, CB_STATE, s); }
  /**
   * Starting or Dead → Running. The supervisor calls it when the current thread says it runs:
   * the thread's own store (its loop's first step) may come after that report, or before the
   * supervisor's own Starting/Dead store (a standby the dying thread promoted runs before the
   * supervisor handles the death), and whoever reads the state after the 'recovered' event
   * must see 'running'. Any other state (Stopped, Failed) is the thread's or a later decision.
   */
  markRunning(): void {
    const s = this.state;
    if (s === ServerState.Starting || s === ServerState.Dead) this.state = ServerState.Running;
  }

  beat(): void { this.i32[CB_HEARTBEAT] = (this.i32[CB_HEARTBEAT]! + 1) | 0; }
  addIn(n: number): void { this.i32[CB_MSGS_IN] = (this.i32[CB_MSGS_IN]! + n) | 0; }
  addOut(n: number): void { this.i32[CB_MSGS_OUT] = (this.i32[CB_MSGS_OUT]! + n) | 0; }
  addSpins(n: number): void { this.i32[CB_SPINS] = (this.i32[CB_SPINS]! + n) | 0; }
  addPark(woken: boolean): void {
    this.i32[CB_PARKS] = (this.i32[CB_PARKS]! + 1) | 0;
    if (woken) this.i32[CB_WAKEUPS] = (this.i32[CB_WAKEUPS]! + 1) | 0;
  }
  addBackpressure(): void { this.i32[CB_BACKPRESSURE] = (this.i32[CB_BACKPRESSURE]! + 1) | 0; }
  setStaleDrops(n: number): void { this.i32[CB_STALE_DROPS] = n; }
  setPoolExhausted(n: number): void { this.i32[CB_POOL_EXHAUSTED] = n; }
  addBusy(ms: number): void { this.f64[CB_F64_BUSY_MS] = this.f64[CB_F64_BUSY_MS]! + ms; }
  addIdle(ms: number): void { this.f64[CB_F64_IDLE_MS] = this.f64[CB_F64_IDLE_MS]! + ms; }
  markFault(): void { this.f64[CB_F64_FAULT_AT] = monotonicMs(); }
  get faultAt(): number { return this.f64[CB_F64_FAULT_AT]!; }
  markFirstMessage(): void { if (this.f64[CB_F64_FIRST_MSG_AT] === 0) this.f64[CB_F64_FIRST_MSG_AT] = monotonicMs(); }
  get firstMessageAt(): number { return this.f64[CB_F64_FIRST_MSG_AT]!; }

  /** Supervisor, before a successor starts: new generation, fresh per-generation marks. */
  prepareSuccessor(generation: number, countRestart: boolean): void {
    Atomics.store(this.i32, CB_GENERATION, generation);
    if (countRestart) Atomics.add(this.i32, CB_RESTARTS, 1);
    this.f64[CB_F64_FIRST_MSG_AT] = 0;
    this.f64[CB_F64_FAULT_AT] = 0;
  }

  snapshot(): ServerCounters {
    const w = this.i32;
    return {
      generation: Atomics.load(w, CB_GENERATION),
      heartbeat: Atomics.load(w, CB_HEARTBEAT),
      state: Atomics.load(w, CB_STATE),
      restarts: Atomics.load(w, CB_RESTARTS),
      msgsIn: Atomics.load(w, CB_MSGS_IN) >>> 0,
      msgsOut: Atomics.load(w, CB_MSGS_OUT) >>> 0,
      spins: Atomics.load(w, CB_SPINS) >>> 0,
      parks: Atomics.load(w, CB_PARKS) >>> 0,
      wakeups: Atomics.load(w, CB_WAKEUPS) >>> 0,
      backpressure: Atomics.load(w, CB_BACKPRESSURE) >>> 0,
      staleDrops: Atomics.load(w, CB_STALE_DROPS) >>> 0,
      poolExhausted: Atomics.load(w, CB_POOL_EXHAUSTED) >>> 0,
      busyMs: this.f64[CB_F64_BUSY_MS]!,
      idleMs: this.f64[CB_F64_IDLE_MS]!,
    };
  }
}

/** One server's counters at one instant (plain data). */
export interface ServerCounters {
  readonly generation: number;
  readonly heartbeat: number;
  /** layout.ts ServerState. */
  readonly state: number;
  readonly restarts: number;
  readonly msgsIn: number;
  readonly msgsOut: number;
  /** Loop counters are per thread: in monolithic placement they are in the group's first server. */
  readonly spins: number;
  readonly parks: number;
  readonly wakeups: number;
  readonly backpressure: number;
  readonly staleDrops: number;
  readonly poolExhausted: number;
  readonly busyMs: number;
  readonly idleMs: number;
}
