/**
 * A simulated link between two TCP engines in virtual time: one-way delay,
 * bandwidth (serialisation, drop-tail queue), random loss, duplication,
 * reordering (extra delay) and corruption (one flipped byte, which the
 * receiver's checksum must catch). Deterministic from a seed.
 */
import { createHash } from 'node:crypto';
import { SeededRng } from '../../src/random/rng.js';
import { TcpEventType, type ConnectionOptions, type TcpEngineOptions } from '../../src/tcp/config.js';
import { TcpEngine } from '../../src/tcp/engine.js';
import { GsoCutter } from '../../src/driver/offload.js';

const cutter = new GsoCutter();

/** The driver's software GSO on a bare TCP burst: wrap it in Ethernet + IPv4, cut, unwrap. */
export function tsoCut(src: number, dst: number, seg: Uint8Array, mss: number): Uint8Array[] {
  const f = new Uint8Array(34 + seg.length);
  f[12] = 0x08; f[14] = 0x45; f[16] = (20 + seg.length) >>> 8; f[17] = (20 + seg.length) & 0xff; f[22] = 64; f[23] = 6;
  f[26] = src >>> 24; f[27] = src >>> 16; f[28] = src >>> 8; f[29] = src;
  f[30] = dst >>> 24; f[31] = dst >>> 16; f[32] = dst >>> 8; f[33] = dst;
  f.set(seg, 34);
  const n = cutter.cut(f, 0, f.length, mss);
  if (n < 0) throw new Error('tsoCut: not a TCP burst');
  return Array.from({ length: n }, (_, k) => cutter.memory.slice(cutter.offsets[k]! + 34, cutter.offsets[k]! + cutter.lengths[k]!));
}

export interface LinkConfig {
  delayMs: number;
  /** Bits per ms (1 Gbit/s = 1e6). */
  bandwidth: number;
  loss: number;
  duplicate: number;
  reorder: number;
  /** Extra delay of a reordered packet, ms. */
  reorderDelayMs: number;
  corrupt: number;
  /** Packets the bottleneck queue holds before dropping. */
  queueLimit: number;
  /** The receiving application stops reading at this virtual time (ms) for readerPauseMs (0: never). */
  readerPauseAtMs: number;
  readerPauseMs: number;
}

export const DEFAULT_LINK: LinkConfig = {
  delayMs: 5, bandwidth: 100_000, loss: 0, duplicate: 0, reorder: 0, reorderDelayMs: 3, corrupt: 0, queueLimit: 200,
  readerPauseAtMs: 0, readerPauseMs: 0,
};

interface Packet { at: number; seq: number; to: 0 | 1; src: number; dst: number; bytes: Uint8Array }

export const ADDR_A = 0x0a000001;
export const ADDR_B = 0x0a000002;

export interface TransferResult {
  ok: boolean;
  bytes: number;
  virtualMs: number;
  sentHash: string;
  recvHash: string;
  segments: number;
  bursts: number;
  /** Segments A put on the link (TSO bursts cut), and what A's engine counted as sent. */
  sentSegments: number;
  segmentsOut: number;
  retransmits: number;
  timeouts: number;
  /** Most bytes A handed to the link at one instant of virtual time (a burst; pacing keeps it small). */
  maxBurstBytes: number;
  dropsBadChecksum: number;
  events: string[];
}

/** Bulk transfer of `total` bytes from A (client) to B (server), then close both ways. */
export function transfer(
  seed: number, total: number, link: Partial<LinkConfig> = {}, conn: Partial<ConnectionOptions> = {},
  engineOpts: Partial<TcpEngineOptions> = {}, maxVirtualMs = 3_600_000,
): TransferResult {
  const cfg = { ...DEFAULT_LINK, ...link };
  const rng = new SeededRng(seed);
  const rand = (): number => rng.nextU32() / 0x100000000;
  const queue: Packet[] = [];
  let pktSeq = 0;
  const linkFree = [0, 0];
  const inQueue = [0, 0];
  let now = 0;
  let segments = 0;
  /** TSO bursts the sender handed out (each cut into several segments). */
  let bursts = 0;
  let sentSegments = 0;
  let burstAt = -1;
  let burstBytes = 0;
  let maxBurstBytes = 0;

  const push = (p: Packet): void => {
    // Binary heap on (at, seq).
    queue.push(p);
    let i = queue.length - 1;
    while (i > 0) {
      const j = (i - 1) >> 1;
      const a = queue[j]!;
      if (a.at < p.at || (a.at === p.at && a.seq < p.seq)) break;
      queue[i] = a;
      i = j;
    }
    queue[i] = p;
  };
  const pop = (): Packet => {
    const top = queue[0]!;
    const last = queue.pop()!;
    if (queue.length > 0) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= queue.length) break;
        const r = c + 1;
        if (r < queue.length && (queue[r]!.at < queue[c]!.at || (queue[r]!.at === queue[c]!.at && queue[r]!.seq < queue[c]!.seq))) c = r;
        const q = queue[c]!;
        if (last.at < q.at || (last.at === q.at && last.seq < q.seq)) break;
        queue[i] = q;
        i = c;
      }
      queue[i] = last;
    }
    return top;
  };

  const wire = (to: 0 | 1) => (src: number, dst: number, bytes: Uint8Array, gsoMss = 0): void => {
    // A TSO burst is cut like a NIC would (the driver's software GSO) before the link sees it.
    if (gsoMss > 0) bursts++;
    if (gsoMss > 0) for (const seg of tsoCut(src, dst, bytes, gsoMss)) send(to)(src, dst, seg);
    else send(to)(src, dst, bytes);
  };
  const send = (to: 0 | 1) => (src: number, dst: number, bytes: Uint8Array): void => {
    segments++;
    if (to === 1) {
      sentSegments++;
      burstBytes = now === burstAt ? burstBytes + bytes.length : bytes.length;
      burstAt = now;
      if (burstBytes > maxBurstBytes) maxBurstBytes = burstBytes;
    }
    if (rand() < cfg.loss) return;
    const dir = to;
    if (inQueue[dir]! >= cfg.queueLimit) return; // drop-tail
    const start = Math.max(now, linkFree[dir]!);
    const done = start + (bytes.length + 40) * 8 / cfg.bandwidth;
    linkFree[dir] = done;
    inQueue[dir]!++;
    let at = done + cfg.delayMs;
    if (rand() < cfg.reorder) at += rand() * cfg.reorderDelayMs;
    let data = bytes;
    if (rand() < cfg.corrupt && data.length > 0) {
      data = data.slice();
      data[Math.floor(rand() * data.length)]! ^= 1 + Math.floor(rand() * 255);
    }
    push({ at, seq: pktSeq++, to, src, dst, bytes: data });
    if (rand() < cfg.duplicate) push({ at: at + 0.01, seq: pktSeq++, to, src, dst, bytes: data.slice() });
  };

  const events: string[] = [];
  const mk = (to: 0 | 1, s: number): TcpEngine => new TcpEngine({
    rng: new SeededRng(s),
    allocator: { alloc: (len) => new Uint8Array(len) },
    transmit: wire(to),
    onEvent: (type, id, code) => {
      events.push(`${now.toFixed(1)} ${to === 1 ? 'A' : 'B'} ${type}${code ? ' ' + code : ''}`);
      if (to === 1) onA(type, id); else onB(type, id);
    },
    defaults: conn,
    ...engineOpts,
  });
  // A's packets go to B (index 1 = towards B), B's to A (index 0).
  const a = mk(1, seed * 2 + 1);
  const b = mk(0, seed * 2 + 2);

  // Source data: deterministic pseudo-random bytes.
  const dataRng = new SeededRng(seed ^ 0x5eed);
  const chunk = new Uint8Array(64 * 1024);
  const sentHash = createHash('sha256');
  const recvHash = createHash('sha256');
  let produced = 0;
  let pendingChunk = 0; // bytes of `chunk` not yet accepted
  let chunkOff = 0;
  let received = 0;
  let aConn = -1;
  let bConn = -1;
  let aClosed = false;
  let bEnded = false;
  let bClosed = false;
  const readBuf = new Uint8Array(256 * 1024);

  function pump(): void {
    if (aConn < 0 || aClosed) return;
    for (;;) {
      if (pendingChunk === 0) {
        if (produced >= total) {
          a.shutdown(aConn, now);
          aClosed = true;
          return;
        }
        const n = Math.min(chunk.length, total - produced);
        for (let i = 0; i < n; i += 4) {
          const v = dataRng.nextU32();
          chunk[i] = v; chunk[i + 1] = v >>> 8; chunk[i + 2] = v >>> 16; chunk[i + 3] = v >>> 24;
        }
        sentHash.update(chunk.subarray(0, n));
        produced += n;
        pendingChunk = n;
        chunkOff = 0;
      }
      const acc = a.send(aConn, chunk.subarray(chunkOff, chunkOff + pendingChunk), now);
      chunkOff += acc;
      pendingChunk -= acc;
      if (pendingChunk > 0) return;
    }
  }
  const pauseEnd = cfg.readerPauseAtMs + cfg.readerPauseMs;
  function drain(): void {
    if (bConn < 0) return;
    if (cfg.readerPauseMs > 0 && now >= cfg.readerPauseAtMs && now < pauseEnd) return;
    for (;;) {
      const n = b.receive(bConn, readBuf, now);
      if (n === 0) break;
      recvHash.update(readBuf.subarray(0, n));
      received += n;
    }
  }
  function onA(type: number, id: number): void {
    if (type === TcpEventType.Connected || type === TcpEventType.Writable) pumpPending = true;
    if (type === TcpEventType.Error) failed = true;
    void id;
  }
  function onB(type: number, id: number): void {
    if (type === TcpEventType.Incoming) {
      bConn = b.accept(id);
      drain();
    } else if (type === TcpEventType.Readable) {
      drainPending = true;
    } else if (type === TcpEventType.End) {
      bEnded = true;
      endPending = true;
    } else if (type === TcpEventType.Error) {
      failed = true;
    }
  }
  let failed = false;
  let pumpPending = false;
  let drainPending = false;
  let endPending = false;

  const listener = b.listen({ addr: ADDR_B, port: 80 });
  void listener;
  aConn = a.connect({ localAddr: ADDR_A, remoteAddr: ADDR_B, remotePort: 80 }, now);

  while (!failed) {
    if (pumpPending) {
      pumpPending = false;
      pump();
    }
    if (drainPending) {
      drainPending = false;
      drain();
    }
    if (endPending && !bClosed) {
      endPending = false;
      drain();
      b.close(bConn, now);
      bClosed = true;
    }
    const resume = cfg.readerPauseMs > 0 && now < pauseEnd ? pauseEnd : Infinity;
    const next = Math.min(queue.length > 0 ? queue[0]!.at : Infinity, a.pollAt(), b.pollAt(), resume);
    if (next === Infinity || next > maxVirtualMs) break;
    now = Math.max(now, next);
    if (now === resume) {
      drainPending = true;
      continue;
    }
    if (queue.length > 0 && queue[0]!.at <= now) {
      const p = pop();
      inQueue[p.to === 1 ? 1 : 0]!--;
      (p.to === 1 ? b : a).onSegment(p.src, p.dst, p.bytes, now);
    } else {
      a.onTimer(now);
      b.onTimer(now);
    }
    if (bEnded && bClosed && (a.info(aConn).state === 'TIME-WAIT' || a.info(aConn).state === 'CLOSED')) break;
  }
  const sh = sentHash.digest('hex');
  const rh = recvHash.digest('hex');
  return {
    ok: !failed && bEnded && received === total && sh === rh,
    bytes: received,
    virtualMs: now,
    sentHash: sh,
    recvHash: rh,
    segments,
    bursts,
    sentSegments,
    segmentsOut: a.counters.segmentsOut,
    maxBurstBytes,
    retransmits: a.counters.retransmits,
    timeouts: a.counters.rtoTimeouts,
    dropsBadChecksum: a.counters.dropBadChecksum + b.counters.dropBadChecksum,
    events: events.slice(-10),
  };
}
