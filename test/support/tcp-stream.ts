// Streams over newtos sockets for the recovery tests: each side sends its bytes with
// back-pressure and hashes what it receives, noting when each chunk came (the gap a
// fault causes) and every 'error', 'end' or 'close' its application would see.
import { createHash, randomBytes } from 'node:crypto';
import type { Stack } from '../../src/stack/host.js';
import type { NetSocket } from '../../src/app/net-socket.js';
import { CK, CK_FLAG } from '../../src/abi/tcb-checkpoint.js';
import { savedConnection } from '../../src/tcp/checkpoint.js';

export async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!cond() && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 10));
  return cond();
}

/** `size` random bytes and their sha256. */
export function streamData(size: number): { bytes: Buffer; sha256: string } {
  const bytes = randomBytes(size);
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** The first connection a new server on `port` accepts. */
export function listenOn(stack: Stack, port: number): Promise<NetSocket> {
  return new Promise((resolve, reject) => {
    const server = stack.net.createServer((s: NetSocket) => { resolve(s); server.close(); });
    server.on('error', reject);
    server.listen(port);
  });
}

export function connectTo(stack: Stack, host: string, port: number): Promise<NetSocket> {
  return new Promise((resolve, reject) => {
    const c = stack.net.connect({ port, host });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

export class Stream {
  received = 0;
  /** What the application saw besides data: 'error:CODE', 'end', 'close'. */
  readonly events: string[] = [];
  /** performance.now() of every chunk received. */
  readonly arrivals: number[] = [];
  /** Received text not yet taken by echoOnce (streams of unbounded length only). */
  text = '';
  readonly done: Promise<{ sha256: string; bytes: number }>;
  private readonly hash = createHash('sha256');

  constructor(readonly socket: NetSocket, readonly expected: number) {
    let finish: (v: { sha256: string; bytes: number }) => void = () => undefined;
    this.done = new Promise((resolve) => { finish = resolve; });
    socket.on('data', (d: Buffer) => {
      this.arrivals.push(performance.now());
      this.received += d.length;
      if (this.expected === Infinity) this.text += d.toString();
      else this.hash.update(d);
      if (this.received >= this.expected) finish({ sha256: this.hash.digest('hex'), bytes: this.received });
    });
    socket.on('error', (e: Error & { code?: string }) => this.events.push(`error:${e.code ?? e.message}`));
    socket.on('end', () => this.events.push('end'));
    socket.on('close', () => this.events.push('close'));
  }

  /** `done`, or a rejection after `ms` saying how far it got and what the application saw. */
  within(ms: number): Promise<{ sha256: string; bytes: number }> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`received ${this.received} of ${this.expected} bytes in ${ms} ms; events ${JSON.stringify(this.events)}`)), ms);
    });
    return Promise.race([this.done, late]).finally(() => clearTimeout(timer));
  }

  private readonly outbox: Buffer[] = [];
  private waitingDrain = false;

  /** Write all of `bytes` in pieces, after what earlier calls queued, waiting for 'drain' when the socket says so. */
  send(bytes: Buffer): void {
    const piece = 256 * 1024;
    for (let at = 0; at < bytes.length; at += piece) this.outbox.push(bytes.subarray(at, at + piece));
    if (!this.waitingDrain) this.pump();
  }

  private pump(): void {
    this.waitingDrain = false;
    while (this.outbox.length > 0) {
      if (!this.socket.write(this.outbox.shift()!)) {
        this.waitingDrain = true;
        this.socket.once('drain', () => this.pump());
        return;
      }
    }
  }

  /** Longest time without a chunk from just before `t0` on (ms). */
  gapAfter(t0: number): number {
    const a = this.arrivals;
    let i = a.findIndex((x) => x >= t0);
    if (i < 0) return 0;
    let gap = i > 0 ? a[i]! - a[i - 1]! : 0;
    for (i++; i < a.length; i++) gap = Math.max(gap, a[i]! - a[i - 1]!);
    return gap;
  }
}

/** Write `text` on an echoed stream and wait for it back (rejects after 15 s). */
export async function echoOnce(s: Stream, text: string): Promise<string> {
  s.text = '';
  s.socket.write(text);
  if (!(await until(() => s.text.length >= text.length, 15_000))) throw new Error(`no echo of ${JSON.stringify(text)}: got ${JSON.stringify(s.text)}`);
  const got = s.text;
  s.text = '';
  return got;
}

/**
 * Every connection `stack`'s TCP servers have a checkpoint for, one line each: state,
 * sequence space, windows, timers and the rings' fill, read from shared memory. For a
 * failing test's message (a transfer that stalls says where each side stands).
 */
export function describeConnections(stack: Stack): string {
  const lines: string[] = [];
  stack.client.tcpSocketTables().forEach((table, replica) => {
    for (let slot = 0; slot < table.slots; slot++) {
      const saved = savedConnection(table.checkpoints, slot);
      if (saved === undefined) continue;
      const f = table.checkpoints.f64;
      const b = table.checkpoints.fieldBase(slot, saved.copy);
      const v = (k: keyof typeof CK): number => f[b + CK[k]]!;
      const block = table.block(slot);
      lines.push(`${stack.config.name ?? 'host'}/r${replica}/s${slot} state ${saved.state} :${v('localPort')}→:${v('remotePort')}`
        + ` una ${v('sndUna')} nxt ${v('sndNxt')} max ${v('sndMax')} wnd ${v('sndWnd')} cwnd ${v('cwnd')} ssthresh ${v('ssthresh')}`
        + ` rcvNxt ${v('rcvNxt')} rcvAdv ${v('rcvAdv')} ooo ${v('rangeCount')} rto ${v('rto')} rtoAt ${v('rtoAt') - v('now')} retries ${v('retries')}`
        + ` persisting ${(v('flags') & CK_FLAG.persisting) !== 0} sendRing ${block.send.countDistance(block.send.headCount(), block.send.tailCount())}`
        + ` recvRing ${block.recv.countDistance(block.recv.headCount(), block.recv.tailCount())} writes ${table.checkpoints.writes(slot)}`);
    }
  });
  return lines.join('\n');
}

/** The host's TCP and IP counters that are not zero, flattened ("tcp.dropPaws=3 ip.txDrops.filtered=1 ..."): for a failing test's message. */
export function nonzeroCounters(stack: Stack): string {
  const out: string[] = [];
  const walk = (prefix: string, v: unknown): void => {
    if (typeof v === 'number') { if (v !== 0) out.push(`${prefix}=${Number.isInteger(v) ? v : v.toFixed(1)}`); return; }
    if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(`${prefix}.${k}`, x);
  };
  const c = stack.counters();
  walk('tcp', c.tcp);
  walk('ip', c.ip);
  return `${stack.config.name ?? 'host'}: ${out.join(' ')}`;
}
