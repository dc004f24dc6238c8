/**
 * The restart protocol (MINIX ndev style, adapted to channels that survive
 * their endpoints), and how far each server of the stack follows it:
 *
 * 1. Rings outlive threads. A successor resumes at the last *published*
 *    tail and the last *freed* head, so nothing published is lost and
 *    nothing is published twice by the ring itself. (Every server.)
 * 2. The loop publishes outputs before it frees the inputs that caused them
 *    (server-loop.ts). A crash in between re-delivers those inputs to the
 *    successor, which re-sends the outputs: at-least-once per hop. (Every
 *    server.)
 * 3. Exactly-once needs a sequence number that only grows and a receiver
 *    that drops what it has seen (`SeqDedup` below). The stack's own servers
 *    do NOT stamp sequence numbers (they send 0) and do not dedup: what they
 *    exchange tolerates the rare duplicate a crash window causes. A frame or
 *    packet seen twice is what a network does anyway (TCP's sequence space,
 *    IP reassembly and UDP's semantics absorb it); control messages are
 *    idempotent (LISTEN/CLOSE of a slot, a verdict for a packet already
 *    released is ignored) or, for TCP connections, reconciled from the
 *    checkpoint. `SeqDedup` is used by the example relay/sink servers of the
 *    substrate tests, which show it end to end.
 * 4. State kept only in a crashed server's memory is gone. Requests it had
 *    accepted but not answered are asked again when the supervisor reports
 *    the peer's new generation (`onPeerRestart`: IP re-asks every pending PF
 *    verdict), and replies stamped with an old generation are dropped
 *    (`OutstandingRequests`). Small durable state goes in the data store.
 *
 * Sequence numbers are u32 and compared with serial-number arithmetic
 * (RFC 1982), so a stream may wrap.
 */
/** a < b in u32 serial-number arithmetic (RFC 1982 §3.2). */
export function seqBefore(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export type DedupVerdict = 'new' | 'duplicate' | 'gap';

/** Receiver side of an in-order stream: accepts each seq once, in order. */
export class SeqDedup {
  /** Next expected sequence number. */
  next: number;
  duplicates = 0;
  gaps = 0;

  constructor(first = 0) {
    this.next = first >>> 0;
  }

  /**
   * 'new' (and advance) for the expected seq; 'duplicate' for one already
   * seen; 'gap' for one from the future (a message was lost upstream; the
   * stream resynchronises on it and the gap is counted).
   */
  accept(seq: number): DedupVerdict {
    seq >>>= 0;
    if (seq === this.next) { this.next = (this.next + 1) >>> 0; return 'new'; }
    if (seqBefore(seq, this.next)) { this.duplicates++; return 'duplicate'; }
    this.gaps++;
    this.next = (seq + 1) >>> 0;
    return 'gap';
  }
}

/** One request awaiting its reply. */
export interface Outstanding<T> {
  readonly seq: number;
  readonly request: T;
  /** Peer generation the request was last sent to. */
  sentToGeneration: number;
}

/**
 * Requester side: requests carry a seq that only grows; replies echo it and
 * carry the replier's generation. After the peer restarts, every request it
 * had not answered is handed back for re-sending to the new generation.
 */
export class OutstandingRequests<T> {
  private readonly pending = new Map<number, Outstanding<T>>();
  private nextSeq: number;
  /** Replies dropped because they came from a generation that is gone or matched nothing. */
  staleReplies = 0;

  constructor(private peerGeneration: number, firstSeq = 1) {
    this.nextSeq = firstSeq >>> 0;
  }

  get size(): number { return this.pending.size; }

  /** Registers a request; returns its seq (put it in the message). */
  add(request: T): number {
    const seq = this.nextSeq;
    this.nextSeq = (this.nextSeq + 1) >>> 0;
    this.pending.set(seq, { seq, request, sentToGeneration: this.peerGeneration });
    return seq;
  }

  /** A reply arrived: the request, or undefined when it is stale or unknown (dropped). */
  complete(seq: number, replierGeneration: number): T | undefined {
    const o = this.pending.get(seq >>> 0);
    if (o === undefined || replierGeneration !== this.peerGeneration) { this.staleReplies++; return undefined; }
    this.pending.delete(seq >>> 0);
    return o.request;
  }

  /** Gives up on a request (timeout, cancel). */
  cancel(seq: number): T | undefined {
    const o = this.pending.get(seq >>> 0);
    this.pending.delete(seq >>> 0);
    return o?.request;
  }

  /**
   * The peer restarted: from now on only replies of `generation` count.
   * Returns the requests to re-send, oldest first (same seqs).
   */
  peerRestarted(generation: number): Outstanding<T>[] {
    this.peerGeneration = generation;
    const out = [...this.pending.values()].sort((a, b) => (seqBefore(a.seq, b.seq) ? -1 : 1));
    for (const o of out) o.sentToGeneration = generation;
    return out;
  }
}
