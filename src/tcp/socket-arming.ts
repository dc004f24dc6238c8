/**
 * The TCP server's side of the fast-socket wake-up words (src/abi/socket-block.ts,
 * "Wake-up rules"): when S_TX_ARMED and S_RX_ARMED are set, and when an application
 * that sleeps for send space is woken. The application writes and reads the rings
 * without a message; it kicks the server only when the server armed a word for it.
 * This module decides those armings, so that no byte the app wrote and no window the
 * app's reads opened waits for a wake-up that will not come.
 *
 * TX: armed when everything queued has been sent once and no prompt ACK is coming
 * (engine.wantsKick: nothing in flight, or less than two full segments, which the
 * peer may ACK only after its delayed-ACK time): the app's next write must kick us.
 * Disarmed otherwise (the ACK runs the engine's output, which reads the ring: no kick
 * needed). Arming sets the word and THEN looks at the ring (SocketBlock.serverArmTx),
 * the app writes and THEN reads the word: one of the two sees the other.
 * RX: armed when the receive ring's free space is below half: the app's next read
 * kicks us (once per arming) so that a window update goes out.
 *
 * Marks, not scans: a slot is looked at (visited) at the end of a poll only when
 * something happened that may change its arming: the engine worked on its connection
 * (a segment, a timer, an application call: TcpEngineOptions.onEnter), the app kicked,
 * the socket opened. A slot whose last visit left it in a state that only the app can
 * change without a message stays marked for the next poll: TX unarmed with unsent
 * bytes and no prompt ACK to carry them (Nagle holding a short tail, a zero window, no
 * buffer), or RX unarmed while the app's reading alone could make a window update due.
 * Every other slot's visit would change nothing (test/tcp/socket-arming.test.ts), so
 * an idle poll visits none.
 */
import { AppWait } from '../abi/socket-block.js';

/** What arming asks of the engine (TcpEngine), by connection id. */
export interface ArmingEngine {
  /** Bytes in the send ring not yet sent once. */
  unsentBytes(conn: number): number;
  /** Would new data wait for a wake-up from outside (no prompt ACK coming to run the output)? */
  wantsKick(conn: number): boolean;
  /** The app added data to the send ring: send what may go now. */
  sendQueued(conn: number, now: number): void;
  /** The app may have read from the receive ring: send a window update if one is due. */
  received(conn: number, now: number): void;
  /** Could the app's reading alone make a window update due (the advertised window is at most half the buffer)? */
  windowUpdateOnRead(conn: number): boolean;
}

/** The part of a socket block arming touches (SocketBlock). */
export interface ArmingBlock {
  readonly send: { freeSpace(): number; readonly capacity: number };
  readonly recv: { freeSpace(): number; available(): number; readonly capacity: number };
  serverArmTx(): boolean;
  serverDisarmTx(): void;
  serverArmRx(): void;
  serverDisarmRx(): void;
  serverRxArmed(): boolean;
  appWaiting(): number;
  serverPublish(): boolean;
}

/** A slot as the server keeps it: its connection, and whether TX is armed (written only here). */
export interface ArmedSlot {
  conn: number;
  txArmed: boolean;
}

export interface SocketArmingHost {
  readonly engine: ArmingEngine;
  block(slot: number): ArmingBlock;
  /**
   * The slot while the application drives its connection; undefined when it is free,
   * not connected yet, closed by the app (the engine owns it alone) or released by the
   * engine. Asked again after every engine call: an event may have ended it.
   */
  active(slot: number): ArmedSlot | undefined;
}

export class SocketArming {
  /** 1 while the slot is in `queue`. */
  private readonly flags: Uint8Array;
  /** The marked slots, in the order marked. */
  private queue: number[] = [];
  private spare: number[] = [];
  /** Slots visited so far (tests, debugging). */
  visits = 0;

  constructor(slots: number, private readonly host: SocketArmingHost) {
    this.flags = new Uint8Array(slots);
  }

  /** Something happened that may change the slot's arming: visit it at the end of the poll. */
  mark(slot: number): void {
    if (this.flags[slot] !== 0) return;
    this.flags[slot] = 1;
    this.queue.push(slot);
  }

  /** Will the next visitMarked visit this slot? */
  isMarked(slot: number): boolean {
    return this.flags[slot] !== 0;
  }

  /** Slots marked for the next visit. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Arm TX before the app can see the connection open: the app may write at once
   * (its thread runs now), and a write while unarmed sends no kick — with nothing in
   * flight no ACK would run the output either, and the data sat in the ring until
   * the peer sent something (a lossy-link interop test stalled 60 s this way). A visit
   * would arm it too, at the end of the poll: this closes the gap one poll sooner.
   */
  armAtOpen(slot: number, now: number): void {
    const st = this.host.active(slot);
    if (st === undefined) return;
    this.mark(slot);
    if (st.txArmed) return;
    st.txArmed = true;
    if (this.host.block(slot).serverArmTx()) this.host.engine.sendQueued(st.conn, now);
  }

  /** Visit every marked slot (end of a poll). Marks made meanwhile wait for the next call. */
  visitMarked(now: number): void {
    const list = this.queue;
    if (list.length === 0) return;
    this.queue = this.spare;
    for (let i = 0; i < list.length; i++) {
      const slot = list[i]!;
      this.flags[slot] = 0;
      this.visit(slot, now);
    }
    list.length = 0;
    this.spare = list;
  }

  /** Keep the arming words true: TX armed when nothing is left unsent, RX armed when the window is small. */
  private visit(slot: number, now: number): void {
    const st = this.host.active(slot);
    if (st === undefined) return;
    this.visits++;
    const engine = this.host.engine;
    const block = this.host.block(slot);
    // Data the app wrote while no kick was armed, with no prompt ACK coming to carry it
    // (nothing in flight, or too little for the peer to ACK at once: engine.wantsKick).
    // TX is disarmed while two or more segments are in flight (their ACK runs the output,
    // which reads the ring); when the ACK that shrinks the flight is processed just
    // before the app writes, the write sends no kick and the bytes wait here: the ACK
    // marked the slot (test/tcp/server.test.ts, "data written while the last ACK is
    // being processed"). armAtOpen closes the same gap at connection open one poll sooner.
    let unsent = engine.unsentBytes(st.conn);
    if (!st.txArmed && unsent > 0 && engine.wantsKick(st.conn)) {
      engine.sendQueued(st.conn, now);
      if (this.host.active(slot) !== st) return;
      unsent = engine.unsentBytes(st.conn);
    }
    // Armed only when the app's next write would otherwise wait: everything sent and no
    // prompt ACK to come (one would run the engine's output, which reads the ring).
    const wantsKick = engine.wantsKick(st.conn);
    const idle = unsent === 0 && wantsKick;
    if (idle && !st.txArmed) {
      st.txArmed = true;
      if (block.serverArmTx()) engine.sendQueued(st.conn, now);
    } else if (!idle && st.txArmed) {
      st.txArmed = false;
      block.serverDisarmTx();
    }
    if (this.host.active(slot) !== st) return;
    // Unarmed with bytes left that no ACK will come to carry (Nagle holds a short tail,
    // the window is closed, no buffer): the app's next write sends no kick, so look
    // again at the next poll, as long as this lasts.
    let again = !st.txArmed && wantsKick && engine.unsentBytes(st.conn) > 0;
    // The app writes the send ring itself, so the engine cannot know it found it
    // full: wake an app that sleeps for space once a good share is free again. (It
    // sleeps only on a full ring, which only ACKs, that mark the slot, empty.)
    const waiting = block.appWaiting();
    if (waiting !== 0) {
      const room = block.send.freeSpace();
      // A quarter of the ring (at most 64 KiB) free before waking a writer: the ring stays
      // nearly full, so the window never runs dry waiting for the app.
      if (((waiting & AppWait.Writable) !== 0 && room >= Math.min(block.send.capacity >>> 2, 64 * 1024)) ||
        ((waiting & AppWait.Readable) !== 0 && block.recv.available() > 0)) block.serverPublish();
    }
    // The app reads the receive ring itself, maybe before we look: let the
    // engine compare the window it advertised with the free space now (it
    // decides whether an update is worth a segment). Armed below half free,
    // the app also kicks us, so an update goes out while we would sleep.
    const free = block.recv.freeSpace();
    engine.received(st.conn, now);
    if (this.host.active(slot) !== st) return;
    const small = free < (block.recv.capacity >>> 1);
    // The word, not a cached flag: the app's kick takes the arming back (one kick per arming).
    const armed = block.serverRxArmed();
    if (small && !armed) {
      block.serverArmRx();
      // Re-check after arming: the app may have read just before.
      if (block.recv.freeSpace() > free) engine.received(st.conn, now);
    } else if (!small && armed) block.serverDisarmRx();
    if (this.host.active(slot) !== st) return;
    // Unarmed while reads alone could make a window update due: the app's reads send no
    // kick, so look again at the next poll (a read while armed kicks, and a kick marks).
    if (!again && !block.serverRxArmed() && engine.windowUpdateOnRead(st.conn)) again = true;
    if (again) this.mark(slot);
  }
}
