/**
 * One wake-up word for a whole socket table, as epoll is for many sockets: the
 * transport server marks a slot whose application waits in a ready bitmap and
 * wakes the application only if it sleeps; the application takes the marked
 * slots in batches and, while it is busy, looks at the bitmap instead of
 * sleeping. A socket event then costs a memory write, not a wake-up per socket
 * (the application used to wait on every socket's own word: one cross-thread
 * wake-up for each of them, each a task on its event loop).
 *
 * Memory (in the table's header and a region of its own, socket-table.ts):
 *   H_APP_SEQ     bumped by the server after it marks a slot; the application sleeps on it
 *   H_APP_PARKED  1 while the application sleeps on H_APP_SEQ; the server that wakes it takes
 *                 it back to 0 (compare-and-exchange): one notify per sleep, however many
 *                 slots are marked before the application runs
 *   H_READY_ANY   nonzero when some bit below may be set (one load for an idle look)
 *   ready         one bit per slot
 *   summary       one bit per ready word (32 slots), so a look reads slots/1024 words
 *   F_WAKES       (Float64) notifies the server sent: the "server wake messages" of the stats
 *
 * The other way, the application's kicks (socket-block.ts: data written into a ring whose
 * server armed S_TX_ARMED, a read that took S_RX_ARMED back) are marks too: the application
 * sets the slot's bit in `kicks` (and its summary, then H_KICK_ANY) and rings the server's
 * doorbell, which wakes the server's thread only if it sleeps (doorbell.ts); the server takes
 * the marked slots at its next pass (its pollAt says it is due while H_KICK_ANY is set, its
 * hasWork keeps it from parking). The doorbell's own rules make that safe: the ringer reads
 * the sleeping word after its mark, the sleeper looks at H_KICK_ANY after it raised the word.
 *   F_KICK_WAKES  (Float64, the application's) rings that woke the server: the "app wake
 *                 messages" of the stats
 *
 * No lost wake-up (sequentially consistent Atomics): the server sets the bits, then
 * H_READY_ANY, bumps H_APP_SEQ and only then looks at H_APP_PARKED. The application
 * reads H_APP_SEQ, stores H_APP_PARKED = 1, takes the ready slots once more, and only
 * then waits on H_APP_SEQ with the value it read: a mark it missed in that last look
 * came after it, so its bump changed the word (the wait returns at once) or its look at
 * H_APP_PARKED saw the 1 (it notifies).
 * A socket's own rules (socket-block.ts) still decide whether a change is worth a mark:
 * only a socket whose application waits (A_WAITING) is marked.
 */

export const H_APP_SEQ = 5;
export const H_APP_PARKED = 6;
export const H_READY_ANY = 7;
export const H_KICK_ANY = 8;
/** Float64 indexes in the header (words 10-13): notifies the server sent, rings that woke it. */
const F_WAKES = 5;
const F_KICK_WAKES = 6;

export class TableEvents {
  private readonly counts: Float64Array;

  constructor(
    /** The table's header words. */
    readonly header: Int32Array,
    private readonly ready: Int32Array,
    private readonly summary: Int32Array,
    private readonly kicks: Int32Array,
    private readonly kickSummary: Int32Array,
  ) {
    this.counts = new Float64Array(header.buffer, header.byteOffset, 8);
  }

  /** Int32 words of the ready bitmap and its summary for `slots` slots. */
  static words(slots: number): { ready: number; summary: number } {
    const ready = Math.ceil(slots / 32);
    return { ready, summary: Math.ceil(ready / 32) };
  }

  // ---- server side ----------------------------------------------------------

  /** Marks `slot` ready and wakes the application if it sleeps; true if it notified. */
  markReady(slot: number): boolean {
    mark(this.ready, this.summary, slot);
    Atomics.store(this.header, H_READY_ANY, 1);
    Atomics.add(this.header, H_APP_SEQ, 1);
    if (Atomics.load(this.header, H_APP_PARKED) !== 0 && Atomics.compareExchange(this.header, H_APP_PARKED, 1, 0) === 1) {
      Atomics.notify(this.header, H_APP_SEQ);
      this.counts[F_WAKES]! += 1;
      return true;
    }
    return false;
  }

  /** Notifies the server sent so far (read racily, for stats). */
  wakes(): number {
    return this.counts[F_WAKES]!;
  }

  /** Has the application marked a slot since the last takeKicks? (one load) */
  kicksPending(): boolean {
    return Atomics.load(this.header, H_KICK_ANY) !== 0;
  }

  /** Takes every slot the application kicked (clearing its bit), calling `fn` for each. */
  takeKicks(fn: (slot: number) => void): number {
    return take(this.header, H_KICK_ANY, this.kicks, this.kickSummary, fn);
  }

  // ---- application side ---------------------------------------------------------

  /** Takes every marked slot (clearing its bit) and calls `fn` for each; returns how many. */
  takeReady(fn: (slot: number) => void): number {
    return take(this.header, H_READY_ANY, this.ready, this.summary, fn);
  }

  /** The value to sleep on, read before parked() and the last look (see the rules above). */
  seq(): number {
    return Atomics.load(this.header, H_APP_SEQ);
  }

  parked(on: boolean): void {
    Atomics.store(this.header, H_APP_PARKED, on ? 1 : 0);
  }

  /** Ends the application's own sleep (a wait that must change, the table closing). */
  wakeSelf(): void {
    Atomics.notify(this.header, H_APP_SEQ);
  }

  /**
   * Marks `slot` for the server; the caller then rings the server's doorbell (a ring that
   * wakes it is counted with kickWoke).
   */
  markKick(slot: number): void {
    mark(this.kicks, this.kickSummary, slot);
    Atomics.store(this.header, H_KICK_ANY, 1);
  }

  kickWoke(): void {
    this.counts[F_KICK_WAKES]! += 1;
  }

  /** Rings after a kick that woke the server (read racily, for stats). */
  kickWakes(): number {
    return this.counts[F_KICK_WAKES]!;
  }
}

function mark(bits: Int32Array, summary: Int32Array, slot: number): void {
  Atomics.or(bits, slot >>> 5, 1 << (slot & 31));
  Atomics.or(summary, slot >>> 10, 1 << ((slot >>> 5) & 31));
}

/**
 * Takes the marked slots of `bits`: clears the `any` word first, then each summary word,
 * then the bit words it names, so a mark made meanwhile stays for the next take (its own
 * store of `any` comes after its bits).
 */
function take(header: Int32Array, any: number, bits: Int32Array, summary: Int32Array, fn: (slot: number) => void): number {
  if (Atomics.load(header, any) === 0) return 0;
  Atomics.store(header, any, 0);
  let n = 0;
  for (let i = 0; i < summary.length; i++) {
    if (Atomics.load(summary, i) === 0) continue;
    let s = Atomics.exchange(summary, i, 0);
    while (s !== 0) {
      const wi = (i << 5) + 31 - Math.clz32(s & -s);
      s &= s - 1;
      let w = Atomics.exchange(bits, wi, 0);
      while (w !== 0) {
        fn((wi << 5) + 31 - Math.clz32(w & -w));
        w &= w - 1;
        n++;
      }
    }
  }
  return n;
}
