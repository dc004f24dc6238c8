/**
 * A packetdrill-style script harness for the TCP engine. One engine (at
 * LOCAL) talks to a scripted peer (at REMOTE); each script line happens at a
 * virtual time in ms:
 *
 *   0     listen                                   application call
 *   0     < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
 *   0     > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val * ecr 100,nop,wscale 8>
 *   +10   < . 1:1(0) ack 1 win 1000 <nop,nop,TS val 110 ecr *>
 *   +0    accept
 *   +0    event incoming
 *
 * `<` injects a segment from the peer, `>` expects the engine's next segment
 * at exactly that time (nothing else may have been sent before it). Sequence
 * numbers are relative: on `<` lines seq is relative to the peer's ISN and ack
 * to the engine's ISS; on `>` lines the other way round. The engine's ISS is
 * learned from its first SYN. Flags: S F R P . (ACK). Options on a `>` line are
 * checked exactly when given (`*` matches anything); windows when given.
 * `ecr *` on a `<` line echoes the engine's last TSval. Payload bytes are
 * position-dependent, so reads can be checked.
 *
 * Application calls: connect, listen [backlog], accept, send N, read N,
 * shutdown, close, abort, nodelay, event NAME [CODE], noevent NAME,
 * info FIELD VALUE, counter NAME VALUE (engine counters), state NAME, icmp KIND [mtu].
 */
import assert from 'node:assert/strict';
import { SeededRng } from '../../src/random/rng.js';
import { TcpEventType, type TcpEngineOptions } from '../../src/tcp/config.js';
import { TcpEngine, type ConnectionInfo, type IcmpErrorKind } from '../../src/tcp/engine.js';
import { TcpFlag, emitTcp, formatTcp, parseTcp, type TcpRepr, type SackBlock } from '../../src/wire/tcp.js';

export const LOCAL = 0xc0000201; // 192.0.2.1
export const REMOTE = 0xc0000202; // 192.0.2.2
export const LOCAL_PORT = 8080;
export const PEER_PORT = 40000;
export const PEER_ISN = 1_000_000;

const EVENT_NAMES: Record<number, string> = {
  [TcpEventType.Connected]: 'connected',
  [TcpEventType.Incoming]: 'incoming',
  [TcpEventType.Readable]: 'readable',
  [TcpEventType.Writable]: 'writable',
  [TcpEventType.End]: 'end',
  [TcpEventType.Closed]: 'closed',
  [TcpEventType.Error]: 'error',
};

interface Sent { at: number; repr: TcpRepr; bytes: Uint8Array; gsoMss: number }

/** Payload byte at absolute peer stream position i. */
export function patternByte(i: number): number {
  return (i * 31 + 7) & 0xff;
}

export class Harness {
  readonly engine: TcpEngine;
  now = 0;
  conn = -1;
  listener = -1;
  enginePort = LOCAL_PORT;
  iss: number | undefined;
  lastTsVal = 0;
  readonly sent: Sent[] = [];
  readonly events: { at: number; type: string; conn: number; code?: string }[] = [];
  private sentCursor = 0;
  private eventCursor = 0;
  private lineNo = 0;
  private line = '';

  constructor(options: Partial<TcpEngineOptions> = {}) {
    this.engine = new TcpEngine({
      rng: new SeededRng(1),
      allocator: { alloc: (len) => new Uint8Array(len) },
      transmit: (src, dst, bytes, gsoMss) => {
        assert.equal(src, LOCAL);
        assert.equal(dst, REMOTE);
        // A burst (gsoMss > 0) leaves its checksum to whoever cuts it.
        const r = parseTcp(bytes, src, dst, { verifyChecksum: !(options.checksumOffload ?? false) && gsoMss === 0 });
        assert.ok(r.ok, `engine emitted an unparseable segment: ${r.ok ? '' : r.reason}`);
        if (r.value.timestamp) this.lastTsVal = r.value.timestamp.val;
        this.sent.push({ at: this.now, repr: r.value, bytes, gsoMss });
      },
      onEvent: (type, conn, code) => {
        this.events.push({ at: this.now, type: EVENT_NAMES[type]!, conn, ...(code ? { code } : {}) });
      },
      ...options,
      // The scripts are written against the loss-based controllers (windows in segments, reductions on loss, no
      // pacing in virtual time); BBR, the stack's default, has its own tests (congestion/bbr.test.ts, sim.test.ts).
      defaults: { congestion: 'cubic', ...options.defaults },
    });
  }

  /** Advance virtual time to `t`, firing timers in order. */
  advance(t: number): void {
    for (;;) {
      const at = this.engine.pollAt();
      if (at > t) break;
      this.now = Math.max(this.now, at);
      this.engine.onTimer(this.now);
    }
    this.now = Math.max(this.now, t);
  }

  info(): ConnectionInfo {
    return this.engine.info(this.conn);
  }

  /** Segments the engine sent that no `>` line consumed yet. */
  pending(): TcpRepr[] {
    return this.sent.slice(this.sentCursor).map((s) => s.repr);
  }

  private fail(msg: string): never {
    assert.fail(`line ${this.lineNo} "${this.line.trim()}": ${msg}`);
  }

  run(script: string): void {
    let last = this.now;
    for (const raw of script.split('\n')) {
      this.lineNo++;
      const text = raw.replace(/\/\/.*$/, '').trim();
      if (text === '') continue;
      this.line = text;
      const m = /^(\+?)(\d+(?:\.\d+)?)\s+(.*)$/.exec(text);
      if (!m) this.fail('expected "<time> ..."');
      const t = m[1] === '+' ? last + Number(m[2]) : Number(m[2]);
      last = t;
      this.advance(t);
      const rest = m[3]!;
      if (rest.startsWith('<')) this.inject(rest.slice(1).trim());
      else if (rest.startsWith('>')) this.expect(rest.slice(1).trim());
      else this.command(rest.split(/\s+/));
    }
    const left = this.pending();
    if (left.length > 0) this.fail(`unexpected segments at the end: ${left.map(formatTcp).join(' | ')}`);
  }

  /** Expect the next segment without a script (for tests that drive the engine directly). */
  nextSent(): Sent | undefined {
    return this.sent[this.sentCursor++];
  }

  // ------------------------------------------------------------------ segments

  private parseSeg(spec: string, incoming: boolean): {
    flags: number; seq?: number; len: number; ack?: number; win?: number; opts?: string;
  } {
    const optMatch = /<([^>]*)>\s*$/.exec(spec);
    const opts = optMatch ? optMatch[1]! : undefined;
    const body = optMatch ? spec.slice(0, optMatch.index).trim() : spec;
    const tok = body.split(/\s+/);
    let flags = 0;
    for (const ch of tok[0]!) {
      if (ch === 'S') flags |= TcpFlag.SYN;
      else if (ch === 'F') flags |= TcpFlag.FIN;
      else if (ch === 'R') flags |= TcpFlag.RST;
      else if (ch === 'P') flags |= TcpFlag.PSH;
      else if (ch === '.') flags |= TcpFlag.ACK;
      else this.fail(`bad flag ${ch}`);
    }
    let seq: number | undefined;
    let len = 0;
    let ack: number | undefined;
    let win: number | undefined;
    for (let i = 1; i < tok.length; i++) {
      const s = /^(-?\d+):(-?\d+)\((\d+)\)$/.exec(tok[i]!);
      if (s) {
        seq = Number(s[1]);
        len = Number(s[3]);
        if (Number(s[2]) - seq !== len) this.fail('seq range and length disagree');
      } else if (tok[i] === 'ack') {
        ack = Number(tok[++i]);
      } else if (tok[i] === 'win') {
        win = Number(tok[++i]);
      } else {
        this.fail(`unknown token ${tok[i]}`);
      }
    }
    void incoming;
    return { flags, ...(seq !== undefined ? { seq } : {}), len, ...(ack !== undefined ? { ack } : {}), ...(win !== undefined ? { win } : {}), ...(opts !== undefined ? { opts } : {}) };
  }

  private inject(spec: string): void {
    const p = this.parseSeg(spec, true);
    const o = this.parseOptions(p.opts ?? '', true);
    const seqRel = p.seq ?? 0;
    const payload = new Uint8Array(p.len);
    for (let i = 0; i < p.len; i++) payload[i] = patternByte(seqRel - 1 + i);
    const repr: TcpRepr = {
      srcPort: PEER_PORT,
      dstPort: this.enginePort,
      seq: (PEER_ISN + seqRel) >>> 0,
      ack: p.ack !== undefined ? ((this.iss ?? 0) + p.ack) >>> 0 : 0,
      flags: p.flags,
      window: p.win ?? 65535,
      ...o,
      payload,
    };
    const buf = new Uint8Array(80 + p.len);
    const n = emitTcp(repr, buf, REMOTE, LOCAL);
    this.engine.onSegment(REMOTE, LOCAL, buf.subarray(0, n), this.now);
  }

  /** Inject raw bytes (already a TCP segment) from the peer. */
  injectBytes(bytes: Uint8Array): void {
    this.engine.onSegment(REMOTE, LOCAL, bytes, this.now);
  }

  private parseOptions(text: string, incoming: boolean): Partial<TcpRepr> & { any?: Set<string> } {
    const out: { mss?: number; windowScale?: number; sackPermitted?: boolean; timestamp?: { val: number; ecr: number }; sack?: SackBlock[] } = {};
    const any = new Set<string>();
    if (text.trim() === '') return { ...out, any };
    for (const part of text.split(',').map((s) => s.trim())) {
      const w = part.split(/\s+/);
      switch (w[0]) {
        case 'nop': case 'eol': break;
        case 'mss': if (w[1] === '*') any.add('mss'); else out.mss = Number(w[1]); break;
        case 'wscale': if (w[1] === '*') any.add('windowScale'); else out.windowScale = Number(w[1]); break;
        case 'sackOK': out.sackPermitted = true; break;
        case 'TS': {
          const val = w[2] === '*' ? (any.add('tsval'), 0) : Number(w[2]);
          let ecr: number;
          if (w[4] === '*') {
            if (incoming) ecr = this.lastTsVal;
            else { any.add('tsecr'); ecr = 0; }
          } else {
            ecr = Number(w[4]);
          }
          out.timestamp = { val: val >>> 0, ecr: ecr >>> 0 };
          break;
        }
        case 'sack': {
          // Relative to the receiver of those blocks' data: on `<` lines engine ISS, on `>` lines peer ISN.
          const base = incoming ? this.iss ?? 0 : PEER_ISN;
          out.sack = w.slice(1).map((b) => {
            const [l, r] = b.split(':').map(Number);
            return { left: (base + l!) >>> 0, right: (base + r!) >>> 0 };
          });
          break;
        }
        default: this.fail(`unknown option ${part}`);
      }
    }
    return { ...out, any };
  }

  private expect(spec: string): void {
    const s = this.sent[this.sentCursor];
    if (s === undefined) this.fail('expected a segment, none was sent');
    this.sentCursor++;
    const got = s.repr;
    const desc = formatTcp(got);
    if (s.at !== this.now) this.fail(`segment sent at ${s.at}, expected at ${this.now}: ${desc}`);
    const p = this.parseSeg(spec, false);
    if (got.flags !== p.flags) this.fail(`flags differ: got ${desc}`);
    if (p.seq !== undefined) {
      if ((p.flags & TcpFlag.SYN) !== 0 && this.iss === undefined) {
        this.iss = (got.seq - p.seq) >>> 0;
        if (this.enginePort === LOCAL_PORT || this.listener < 0) this.enginePort = got.srcPort;
      }
      const rel = (got.seq - (this.iss ?? 0)) | 0;
      if (rel !== p.seq) this.fail(`seq ${rel}, expected ${p.seq}: ${desc}`);
      if ((got.payload?.length ?? 0) !== p.len) this.fail(`length ${got.payload?.length ?? 0}, expected ${p.len}: ${desc}`);
    }
    if (p.ack !== undefined) {
      if ((got.flags & TcpFlag.ACK) === 0) this.fail(`no ACK flag: ${desc}`);
      const rel = (got.ack - PEER_ISN) | 0;
      if (rel !== p.ack) this.fail(`ack ${rel}, expected ${p.ack}: ${desc}`);
    }
    if (p.win !== undefined && got.window !== p.win) this.fail(`window ${got.window}, expected ${p.win}: ${desc}`);
    if (p.opts !== undefined) {
      const want = this.parseOptions(p.opts, false);
      const any = want.any!;
      const check = (name: string, a: unknown, b: unknown): void => {
        if (!any.has(name) && JSON.stringify(a) !== JSON.stringify(b)) this.fail(`option ${name}: got ${JSON.stringify(a)}, expected ${JSON.stringify(b)}: ${desc}`);
      };
      if (any.has('mss') ? got.mss === undefined : true) check('mss', got.mss, want.mss);
      if (any.has('windowScale') ? got.windowScale === undefined : true) check('windowScale', got.windowScale, want.windowScale);
      check('sackPermitted', got.sackPermitted, want.sackPermitted);
      if ((want.timestamp === undefined) !== (got.timestamp === undefined)) this.fail(`timestamps presence differs: ${desc}`);
      if (want.timestamp && got.timestamp) {
        if (!any.has('tsval') && got.timestamp.val !== want.timestamp.val) this.fail(`TSval ${got.timestamp.val}: ${desc}`);
        if (!any.has('tsecr') && got.timestamp.ecr !== want.timestamp.ecr) this.fail(`TSecr ${got.timestamp.ecr}, expected ${want.timestamp.ecr}: ${desc}`);
      }
      check('sack', got.sack, want.sack);
    }
  }

  // ------------------------------------------------------------------ commands

  private command(w: string[]): void {
    const e = this.engine;
    switch (w[0]) {
      case 'connect':
        this.conn = e.connect({ localAddr: LOCAL, remoteAddr: REMOTE, remotePort: PEER_PORT }, this.now);
        this.enginePort = e.info(this.conn).localPort;
        break;
      case 'listen':
        this.listener = e.listen({ addr: LOCAL, port: LOCAL_PORT, backlog: w[1] ? Number(w[1]) : 16 });
        break;
      case 'accept': {
        const id = e.accept(this.listener);
        if (id < 0) this.fail('nothing to accept');
        this.conn = id;
        break;
      }
      case 'send': {
        const n = Number(w[1]);
        const data = new Uint8Array(n).fill(0x61);
        const got = e.send(this.conn, data, this.now);
        if (w[2] !== undefined ? got !== Number(w[2]) : got !== n) this.fail(`send accepted ${got}`);
        break;
      }
      case 'read': {
        const n = Number(w[1]);
        const buf = new Uint8Array(n);
        const got = e.receive(this.conn, buf, this.now);
        if (got !== n) this.fail(`read ${got} bytes, expected ${n}`);
        break;
      }
      case 'shutdown': e.shutdown(this.conn, this.now); break;
      case 'close': e.close(this.conn, this.now); break;
      case 'abort': e.abort(this.conn, this.now); break;
      case 'newiss': this.iss = undefined; break;
      case 'nodelay': e.setNoDelay(this.conn, true, this.now); break;
      case 'keepalive': e.setKeepAlive(this.conn, Number(w[1]), this.now); break;
      case 'event': {
        let found = -1;
        for (let i = this.eventCursor; i < this.events.length; i++) {
          const ev = this.events[i]!;
          if (ev.type === w[1] && (w[2] === undefined || ev.code === w[2])) { found = i; break; }
        }
        if (found < 0) this.fail(`no event ${w.slice(1).join(' ')} (have ${JSON.stringify(this.events.slice(this.eventCursor))})`);
        this.eventCursor = found + 1;
        break;
      }
      case 'noevent':
        for (let i = this.eventCursor; i < this.events.length; i++) {
          if (this.events[i]!.type === w[1]) this.fail(`unexpected event ${w[1]}`);
        }
        break;
      case 'info': {
        const v = (e.info(this.conn) as unknown as Record<string, unknown>)[w[1]!];
        if (String(v) !== w[2]) this.fail(`info ${w[1]} = ${String(v)}, expected ${w[2]}`);
        break;
      }
      case 'counter': {
        const v = (e.counters as unknown as Record<string, unknown>)[w[1]!];
        if (String(v) !== w[2]) this.fail(`counter ${w[1]} = ${String(v)}, expected ${w[2]}`);
        break;
      }
      case 'state': {
        const st = e.connectionCount() === 0 ? 'GONE' : this.safeState();
        if (st !== w[1]) this.fail(`state ${st}, expected ${w[1]}`);
        break;
      }
      case 'icmp':
        e.onIcmpError({
          kind: w[1] as IcmpErrorKind, localAddr: LOCAL, localPort: this.enginePort, remoteAddr: REMOTE,
          remotePort: PEER_PORT, seq: ((this.iss ?? 0) + (this.safeState() === 'SYN-SENT' ? 0 : 1)) >>> 0, ...(w[2] ? { mtu: Number(w[2]) } : {}),
        }, this.now);
        break;
      default:
        this.fail(`unknown command ${w[0]}`);
    }
  }

  private safeState(): string {
    try {
      return this.engine.info(this.conn).state;
    } catch {
      return 'GONE';
    }
  }
}

/** Run a script on a fresh harness; returns it for further checks. */
/** Passive open without options from the peer (MSS 1000, no SACK/TS/scaling), RTT 10 ms. */
export const PASSIVE = `
  0    listen
  0    < S 0:0(0) win 65535 <mss 1000>
  0    > S. 0:0(0) ack 1 <mss 1460>
  +10  < . 1:1(0) ack 1 win 65535
  +0   accept
`;

/** Passive open with SACK-permitted (no timestamps), MSS 1000. */
export const PASSIVE_SACK = `
  0    listen
  0    < S 0:0(0) win 65535 <mss 1000,sackOK>
  0    > S. 0:0(0) ack 1 <mss 1460,sackOK>
  +10  < . 1:1(0) ack 1 win 65535
  +0   accept
`;

/** Five full segments sent at once (MSS 1000, after PASSIVE_SACK or PASSIVE): the sender-side tests' common start. */
export const SEND_FIVE = `
    +0   send 5000
    +0   > . 1:1001(1000) ack 1
    +0   > . 1001:2001(1000) ack 1
    +0   > . 2001:3001(1000) ack 1
    +0   > . 3001:4001(1000) ack 1
    +0   > P. 4001:5001(1000) ack 1
`;

/** The application sends 10000 bytes: the initial window, ten segments of 1000. */
export const SEND_TEN = `
    +0   send 10000
    +0   > . 1:1001(1000) ack 1
    +0   > . 1001:2001(1000) ack 1
    +0   > . 2001:3001(1000) ack 1
    +0   > . 3001:4001(1000) ack 1
    +0   > . 4001:5001(1000) ack 1
    +0   > . 5001:6001(1000) ack 1
    +0   > . 6001:7001(1000) ack 1
    +0   > . 7001:8001(1000) ack 1
    +0   > . 8001:9001(1000) ack 1
    +0   > P. 9001:10001(1000) ack 1
`;

export function runScript(script: string, options: Partial<TcpEngineOptions> = {}): Harness {
  const h = new Harness(options);
  h.run(script);
  return h;
}
