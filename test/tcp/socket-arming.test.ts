import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppWait, S_EVENT_SEQ, S_RX_ARMED, S_TX_ARMED, SocketBlock } from '../../src/abi/socket-block.js';
import { SeededRng } from '../../src/random/rng.js';
import { SocketArming, type ArmedSlot, type ArmingEngine } from '../../src/tcp/socket-arming.js';

// The fast-socket arming module (src/tcp/socket-arming.ts) on its own: real socket
// blocks, a fake engine whose connection i is slot i and that marks a slot whenever
// it works on its connection (as the TCP server's onEnter does).

const MSS = 100;
const CAP = 1024;

interface FakeConn {
  /** Bytes sent and not yet acknowledged (they stay in the send ring). */
  inFlight: number;
  /** The peer's window: at most this much in flight. */
  window: number;
  noDelay: boolean;
  /** The receive window we advertised (bytes from RCV.NXT). */
  adv: number;
}

/** A model of the engine's part: output reads the send ring, ACKs free it, reads may open the window. */
class FakeEngine implements ArmingEngine {
  readonly conns: FakeConn[] = [];
  /** Calls that changed something (a visit that changes nothing makes none). */
  effects = 0;
  onEnter: (conn: number) => void = () => {};

  constructor(readonly blocks: SocketBlock[]) {
    for (let i = 0; i < blocks.length; i++) this.conns.push({ inFlight: 0, window: 4 * MSS, noDelay: false, adv: CAP });
  }

  unsentBytes(c: number): number {
    return this.blocks[c]!.send.available() - this.conns[c]!.inFlight;
  }

  wantsKick(c: number): boolean {
    const k = this.conns[c]!;
    return k.noDelay || k.inFlight < 2 * MSS;
  }

  sendQueued(c: number): void {
    this.onEnter(c);
    const k = this.conns[c]!;
    const n = Math.min(this.unsentBytes(c), k.window - k.inFlight);
    if (n > 0) { k.inFlight += n; this.effects++; }
  }

  received(c: number): void {
    const k = this.conns[c]!;
    const free = this.blocks[c]!.recv.freeSpace();
    // engine.consumed: an update when the window shrank to half and a read lets it at least double.
    if (2 * k.adv <= free && free - k.adv >= Math.min(MSS, CAP >>> 1)) {
      this.onEnter(c);
      k.adv = free;
      this.effects++;
    }
  }

  windowUpdateOnRead(c: number): boolean {
    return 2 * this.conns[c]!.adv <= CAP;
  }

  // ---- what the peer does (each a segment processed: the engine enters the connection)

  ack(c: number, n: number): void {
    this.onEnter(c);
    const k = this.conns[c]!;
    n = Math.min(n, k.inFlight);
    this.blocks[c]!.send.consume(n);
    k.inFlight -= n;
  }

  deliver(c: number, n: number): void {
    this.onEnter(c);
    const k = this.conns[c]!;
    n = Math.min(n, k.adv, this.blocks[c]!.recv.freeSpace());
    this.blocks[c]!.recv.write(new Uint8Array(n));
    k.adv -= n;
  }

  setWindow(c: number, w: number): void {
    this.onEnter(c);
    this.conns[c]!.window = w;
  }
}

interface Rig {
  engine: FakeEngine;
  blocks: SocketBlock[];
  slots: (ArmedSlot & { open: boolean })[];
  arming: SocketArming;
  /** The app's write: true when it kicked (and the server marked the slot, as onKick does). */
  write(slot: number, n: number): boolean;
  read(slot: number, n: number): boolean;
}

function rig(n: number): Rig {
  const blocks: SocketBlock[] = [];
  for (let i = 0; i < n; i++) blocks.push(new SocketBlock(new ArrayBuffer(SocketBlock.bytesNeeded(CAP, CAP)), 0, CAP, CAP));
  const engine = new FakeEngine(blocks);
  const slots = blocks.map((_b, i) => ({ conn: i, txArmed: false, open: true }));
  const arming = new SocketArming(n, {
    engine,
    block: (s) => blocks[s]!,
    active: (s) => (slots[s]!.open ? slots[s] : undefined),
  });
  engine.onEnter = (c) => arming.mark(c);
  return {
    engine, blocks, slots, arming,
    write(slot, k) {
      const { kick } = blocks[slot]!.appWrite(new Uint8Array(k));
      if (kick) { arming.mark(slot); engine.sendQueued(slot); }
      return kick;
    },
    read(slot, k) {
      const { kick } = blocks[slot]!.appRead(new Uint8Array(k));
      if (kick) { arming.mark(slot); engine.received(slot); }
      return kick;
    },
  };
}

const txArmed = (b: SocketBlock): number => Atomics.load(b.ctrl, S_TX_ARMED);
const rxArmed = (b: SocketBlock): number => Atomics.load(b.ctrl, S_RX_ARMED);

test('socket arming: an idle poll visits no slot', () => {
  const r = rig(8);
  for (let s = 0; s < 8; s++) r.arming.armAtOpen(s, 0);
  r.arming.visitMarked(0);
  const after = r.arming.visits;
  assert.equal(after, 8, 'each opened slot visited once');
  for (let k = 0; k < 5; k++) r.arming.visitMarked(k);
  assert.equal(r.arming.visits, after, 'nothing happened: no slot visited');
  assert.equal(r.arming.pending, 0);
  // Something happens on one connection: that slot alone is visited.
  r.engine.setWindow(3, 8 * MSS);
  r.arming.visitMarked(10);
  assert.equal(r.arming.visits, after + 1);
});

test('socket arming: TX armed at open, so the first write kicks and goes out', () => {
  const r = rig(1);
  r.arming.armAtOpen(0, 0);
  assert.equal(txArmed(r.blocks[0]!), 1);
  assert.ok(r.write(0, 50), 'the write kicks');
  assert.equal(r.engine.unsentBytes(0), 0);
});

test('socket arming: armAtOpen sends what the app wrote before it looked', () => {
  const r = rig(1);
  r.blocks[0]!.appWrite(new Uint8Array(30)); // unarmed: no kick
  r.arming.armAtOpen(0, 0);
  assert.equal(r.engine.unsentBytes(0), 0, 'arming looked at the ring and sent');
});

test('socket arming: data written while the last ACK is being processed is sent at the poll', () => {
  const r = rig(1);
  r.arming.armAtOpen(0, 0);
  r.write(0, 2 * MSS);
  r.arming.visitMarked(0);
  assert.equal(txArmed(r.blocks[0]!), 0, 'disarmed while two segments are in flight: their ACK runs the output');
  // The ACK that shrinks the flight is processed; the app writes before the poll: no kick.
  r.engine.ack(0, 2 * MSS);
  assert.equal(r.write(0, 30), false, 'no kick: TX is not armed');
  r.arming.visitMarked(1);
  assert.equal(r.engine.unsentBytes(0), 0, 'the ACK marked the slot, and its visit sent the bytes');
  assert.equal(txArmed(r.blocks[0]!), 1);
});

test('socket arming: unsent bytes no ACK will carry keep the slot marked until they go', () => {
  const r = rig(2);
  r.arming.armAtOpen(0, 0);
  r.arming.armAtOpen(1, 0);
  r.arming.visitMarked(0);
  r.engine.setWindow(0, 0); // the peer's window closed
  r.write(0, 50);
  r.arming.visitMarked(1);
  assert.equal(r.engine.unsentBytes(0), 50);
  const v = r.arming.visits;
  r.blocks[0]!.appWrite(new Uint8Array(20)); // unarmed: no kick
  r.arming.visitMarked(2);
  r.arming.visitMarked(3);
  assert.equal(r.arming.visits, v + 2, 'slot 0 visited at each poll, slot 1 not');
  // The window opens without the engine telling (as a retry of output would find): the next visit sends.
  r.engine.conns[0]!.window = 4 * MSS;
  r.arming.visitMarked(4);
  assert.equal(r.engine.unsentBytes(0), 0);
  r.arming.visitMarked(5);
  const settled = r.arming.visits;
  r.arming.visitMarked(6);
  assert.equal(r.arming.visits, settled, 'nothing left to wait for: unmarked');
});

test('socket arming: RX armed below half free; the app\'s read kicks, and the window update follows', () => {
  const r = rig(1);
  r.arming.armAtOpen(0, 0);
  r.engine.deliver(0, 700);
  r.arming.visitMarked(0);
  assert.equal(rxArmed(r.blocks[0]!), 1);
  assert.ok(r.read(0, 600), 'the first read kicks');
  assert.equal(r.engine.conns[0]!.adv, 924, 'the kick\'s window update');
  assert.equal(r.read(0, 50), false, 'one kick per arming');
  r.arming.visitMarked(1);
  assert.equal(rxArmed(r.blocks[0]!), 0, 'disarmed: more than half is free');
});

test('socket arming: a window a read alone could reopen keeps the slot marked; a wide one does not', () => {
  const r = rig(1);
  r.arming.armAtOpen(0, 0);
  r.arming.visitMarked(0);
  r.engine.deliver(0, 400); // adv 624, free 624: more than half free
  r.arming.visitMarked(1);
  assert.equal(rxArmed(r.blocks[0]!), 0);
  let v = r.arming.visits;
  r.arming.visitMarked(2);
  assert.equal(r.arming.visits, v, 'adv > half the buffer: no read can make an update due');
  r.engine.deliver(0, 200); // adv 424, free 424: below half, armed
  r.arming.visitMarked(3);
  assert.equal(rxArmed(r.blocks[0]!), 1);
  r.read(0, 100); // kick: free 524, adv 424 (no update yet: 848 > 524)
  r.arming.visitMarked(4);
  assert.equal(rxArmed(r.blocks[0]!), 0, 'more than half free again');
  v = r.arming.visits;
  r.blocks[0]!.appRead(new Uint8Array(500)); // unarmed: no kick
  r.arming.visitMarked(5);
  assert.equal(r.arming.visits, v + 1, 'still marked: this read could (and does) make the update due');
  assert.equal(r.engine.conns[0]!.adv, CAP);
});

test('socket arming: a writer that sleeps on a full ring is woken once a quarter is free', () => {
  const r = rig(1);
  const b = r.blocks[0]!;
  r.arming.armAtOpen(0, 0);
  r.engine.setWindow(0, CAP);
  r.write(0, CAP);
  r.arming.visitMarked(0);
  b.setAppWaiting(AppWait.Writable | AppWait.State);
  const seq = Atomics.load(b.ctrl, S_EVENT_SEQ);
  r.engine.ack(0, 100);
  r.arming.visitMarked(1);
  assert.equal(Atomics.load(b.ctrl, S_EVENT_SEQ), seq, 'less than a quarter free: still asleep');
  r.engine.ack(0, 200);
  r.arming.visitMarked(2);
  assert.equal(Atomics.load(b.ctrl, S_EVENT_SEQ), seq + 1, 'woken');
});

test('socket arming: a slot the app closed is not visited', () => {
  const r = rig(1);
  r.arming.armAtOpen(0, 0);
  r.slots[0]!.open = false;
  r.engine.setWindow(0, 0);
  const v = r.arming.visits;
  r.arming.visitMarked(0);
  assert.equal(r.arming.visits, v);
  assert.equal(r.arming.pending, 0);
});

/**
 * What marks replace: the TCP server looked at every live socket on every poll. After
 * each poll here, every slot left unmarked is visited anyway by a second arming over
 * the same state, and that visit must change nothing (no bytes sent, no window update,
 * no arming word, no wake-up): a slot that could need it was marked.
 */
test('socket arming: after any poll, a visit of an unmarked slot would change nothing (random runs)', () => {
  for (let seed = 1; seed <= 30; seed++) {
    const rng = new SeededRng(seed);
    const n = 4;
    const r = rig(n);
    const check = new SocketArming(n, { engine: r.engine, block: (s) => r.blocks[s]!, active: (s) => r.slots[s] });
    for (let s = 0; s < n; s++) r.arming.armAtOpen(s, 0);
    /** The event sequence each sleeping app waits on (it wakes when the word moves on). */
    const sleptAt = new Array<number>(n).fill(0);
    for (let step = 0; step < 400; step++) {
      const s = rng.nextU32() % n;
      const b = r.blocks[s]!;
      const k = r.engine.conns[s]!;
      switch (rng.nextU32() % 8) {
        case 0: r.write(s, 1 + (rng.nextU32() % 300)); break;
        case 1: r.engine.ack(s, rng.nextU32() % (k.inFlight + 1)); break;
        case 2: r.engine.deliver(s, rng.nextU32() % 400); break;
        case 3: r.read(s, rng.nextU32() % 400); break;
        case 4: r.engine.setWindow(s, (rng.nextU32() % 6) * MSS); break;
        case 5: {
          // The app sleeps only when what it waits for is not there (net-socket.ts armWait).
          const bits = (b.send.freeSpace() === 0 ? AppWait.Writable : 0) | (b.recv.available() === 0 ? AppWait.Readable : 0);
          b.setAppWaiting(bits === 0 ? 0 : bits | AppWait.State);
          sleptAt[s] = Atomics.load(b.ctrl, S_EVENT_SEQ);
          break;
        }
        case 6: b.setAppWaiting(0); break;
        default: {
          r.arming.visitMarked(step);
          // A woken app is awake: it clears its waiting word (a publish meanwhile, as the
          // old scan repeated at every poll, only bumps a word it no longer waits on).
          for (let t = 0; t < n; t++) if (Atomics.load(r.blocks[t]!.ctrl, S_EVENT_SEQ) !== sleptAt[t]) r.blocks[t]!.setAppWaiting(0);
          for (let t = 0; t < n; t++) {
            // A slot the poll left marked is visited by the next poll anyway.
            if (r.arming.isMarked(t)) continue;
            const bt = r.blocks[t]!;
            const words = [txArmed(bt), rxArmed(bt), Atomics.load(bt.ctrl, S_EVENT_SEQ), r.slots[t]!.txArmed];
            const effects = r.engine.effects;
            const pending = r.arming.pending;
            check.mark(t);
            check.visitMarked(step);
            assert.deepEqual([txArmed(bt), rxArmed(bt), Atomics.load(bt.ctrl, S_EVENT_SEQ), r.slots[t]!.txArmed], words, `seed ${seed} step ${step} slot ${t}: arming words`);
            assert.equal(r.engine.effects, effects, `seed ${seed} step ${step} slot ${t}: an engine call that changed something`);
            assert.equal(r.arming.pending, pending, `seed ${seed} step ${step} slot ${t}: the visit made work`);
          }
        }
      }
    }
  }
});
