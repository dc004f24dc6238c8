/**
 * What a server sends to a peer and could not: a channel is full, so the message is kept,
 * in order, and sent first the next time (before anything newer, which queues behind it
 * meanwhile). `put` sends one item and says whether it fitted; nothing is ever dropped here
 * (a server that must bound its outbox refuses new input while `length` is large).
 */
export class Outbox<T> {
  private items: T[] = [];
  private head = 0;
  /** Items kept because they did not fit, since creation. */
  queued = 0;

  constructor(private readonly put: (item: T) => boolean) {}

  /** Items waiting. */
  get length(): number { return this.items.length - this.head; }

  /** Sends `item` now when nothing waits before it and it fits; else keeps it. True when it went now. */
  send(item: T): boolean {
    if (this.head === this.items.length && this.put(item)) return true;
    this.items.push(item);
    this.queued++;
    return false;
  }

  /** Sends the waiting items in order until one does not fit; returns how many went. */
  retry(): number {
    let n = 0;
    while (this.head < this.items.length && this.put(this.items[this.head]!)) {
      this.items[this.head++] = undefined as T;
      n++;
    }
    if (this.head === this.items.length) { this.items.length = 0; this.head = 0; }
    else if (this.head > 64 && this.head * 2 > this.items.length) { this.items.splice(0, this.head); this.head = 0; }
    return n;
  }

  /** Visits the waiting items, oldest first. */
  forEach(fn: (item: T) => void): void {
    for (let i = this.head; i < this.items.length; i++) fn(this.items[i]!);
  }
}
