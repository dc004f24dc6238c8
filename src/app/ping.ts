/**
 * `stack.ping(address, options)`: ICMP echo from the application, as the
 * `ping` command does it — `count` requests `intervalMs` apart, each waited
 * for up to `timeoutMs`, resolving to the replies with their round-trip times,
 * the loss, and the ICMP errors or local failures seen instead of replies.
 *
 * ICMP belongs to IP: the application sends one ECHO_REQUEST message per
 * request to the IP server, which builds the packet, takes the time when it
 * leaves and when the answer comes back, and answers with ECHO_RESULT
 * (src/ip/echo-client.ts). A request that gets no answer produces no message:
 * its timer here counts it as lost.
 *
 * Misuse is refused with Node's error codes (ERR_INVALID_ARG_TYPE,
 * ERR_OUT_OF_RANGE, ERR_INVALID_IP_ADDRESS) as a rejected promise.
 */
import { NewtosError } from '../errors.js';
import { formatIpv4Address, parseIpv4Address } from '../wire/ipv4-address.js';
import type { MessageView } from '../substrate/message.js';
import { ECHO_MAX_DATA, ECHO_SEND_ERRORS, EchoStatus } from '../abi/echo.js';
import { IcmpType, UnreachableCode } from '../wire/icmp.js';
import { IP_MSG } from '../abi/protocol.js';
import type { AppOutput } from './app-link.js';
import { EchoRequest, EchoResult } from '../abi/message-args.js';

export interface PingOptions {
  /** Echo requests to send (default 4). */
  readonly count?: number;
  /** Milliseconds between requests (default 1000; 0 sends them all at once). */
  readonly intervalMs?: number;
  /** Milliseconds to wait for each request's answer (default 2000). */
  readonly timeoutMs?: number;
  /** Data bytes per request, after the 8-byte ICMP header (default 56, as ping; at most 65507). */
  readonly size?: number;
  /** IP time to live of the requests (default: the host's, 64). */
  readonly ttl?: number;
  /** Called as each reply arrives. */
  readonly onReply?: (reply: PingReply) => void;
}

export interface PingReply {
  /** Index of the request, 0-based. */
  readonly seq: number;
  readonly from: string;
  /** Data bytes in the reply. */
  readonly bytes: number;
  readonly ttl: number;
  /** Round-trip time measured in the IP server, in milliseconds. */
  readonly rttMs: number;
}

export interface PingFailure {
  readonly seq: number;
  /** Errno-style code: ICMP errors as Linux maps them (EHOSTUNREACH, ENETUNREACH, ...), local failures as reported. */
  readonly code: string;
  readonly message: string;
  /** Who sent the ICMP error (absent for local failures). */
  readonly from?: string;
  readonly icmpType?: number;
  readonly icmpCode?: number;
}

export interface PingResult {
  readonly address: string;
  readonly size: number;
  readonly transmitted: number;
  /** Replies carrying the data we sent. */
  readonly received: number;
  /** 100 * (transmitted - received) / transmitted. */
  readonly lossPct: number;
  readonly replies: readonly PingReply[];
  /** ICMP errors and local send failures, instead of replies. */
  readonly errors: readonly PingFailure[];
  /** Replies whose data differed from what was sent (not counted as received). */
  readonly corrupted: number;
  /** Over the replies, as ping prints them (mdev: the standard deviation, as ping computes it). */
  readonly rtt: { readonly minMs: number; readonly avgMs: number; readonly maxMs: number; readonly mdevMs: number } | null;
}

interface Waiter {
  readonly seq: number;
  settle(msg: { status: number; detail: number; from: number; ttl: number; bytes: number } | null): void;
}

/** Linux's icmp_err_convert for destination unreachable codes (net/ipv4/icmp.c). */
function unreachableErrno(code: number): string {
  switch (code) {
    case UnreachableCode.Net: case 6: return 'ENETUNREACH';
    case UnreachableCode.Host: return 'EHOSTUNREACH';
    case UnreachableCode.Protocol: return 'ENOPROTOOPT';
    case UnreachableCode.Port: return 'ECONNREFUSED';
    case UnreachableCode.FragmentationNeeded: return 'EMSGSIZE';
    case UnreachableCode.SourceRouteFailed: return 'EOPNOTSUPP';
    case 7: return 'EHOSTDOWN';
    case 8: return 'ENONET';
    case UnreachableCode.NetProhibited: case UnreachableCode.HostProhibited: return 'EACCES';
    default: return 'EHOSTUNREACH';
  }
}

function icmpErrorText(type: number, code: number): string {
  if (type === IcmpType.DestUnreachable) return `Destination ${code === 0 ? 'Net' : code === 3 ? 'Port' : code === 13 ? 'Communication Prohibited' : 'Host'} Unreachable (code ${code})`;
  if (type === IcmpType.TimeExceeded) return code === 0 ? 'Time to live exceeded' : 'Fragment reassembly time exceeded';
  if (type === IcmpType.ParameterProblem) return 'Parameter problem';
  return `ICMP type ${type} code ${code}`;
}

function checkInteger(name: string, v: unknown, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number') {
    throw new NewtosError('ERR_INVALID_ARG_TYPE', `The "options.${name}" property must be of type number. Received ${typeof v}`);
  }
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new NewtosError('ERR_OUT_OF_RANGE', `The value of "options.${name}" is out of range. It must be an integer >= ${min} && <= ${max}. Received ${String(v)}`);
  }
  return v;
}

/** What `stack.ping` will do with these arguments: destination and options with their defaults. */
export interface CheckedPing {
  readonly dst: number;
  readonly count: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly size: number;
  /** 0: the host's own. */
  readonly ttl: number;
}

/** Checks `stack.ping`'s arguments as it does, without a stack: throws Node-style errors (see the file comment). */
export function checkPing(address: unknown, options: PingOptions = {}): CheckedPing {
  if (typeof address !== 'string') {
    throw new NewtosError('ERR_INVALID_ARG_TYPE', `The "address" argument must be of type string. Received ${typeof address}`);
  }
  const dst = parseIpv4Address(address);
  if (dst === null) throw new NewtosError('ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${address}`);
  if (typeof options !== 'object' || options === null) {
    throw new NewtosError('ERR_INVALID_ARG_TYPE', `The "options" argument must be of type object. Received ${options === null ? 'null' : typeof options}`);
  }
  const checked = {
    dst,
    count: checkInteger('count', options.count, 1, 1_000_000, 4),
    intervalMs: checkInteger('intervalMs', options.intervalMs, 0, 3_600_000, 1000),
    timeoutMs: checkInteger('timeoutMs', options.timeoutMs, 1, 3_600_000, 2000),
    size: checkInteger('size', options.size, 0, ECHO_MAX_DATA, 56),
    ttl: checkInteger('ttl', options.ttl, 1, 255, 0),
  };
  if (options.onReply !== undefined && typeof options.onReply !== 'function') {
    throw new NewtosError('ERR_INVALID_ARG_TYPE', `The "options.onReply" property must be of type function. Received ${typeof options.onReply}`);
  }
  return checked;
}

export class PingClient {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiter>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Pending interval sleeps: close() ends them. */
  private readonly sleepers = new Set<() => void>();
  private closed = false;

  constructor(private readonly toIp: AppOutput) {}

  /** ECHO_RESULT from the IP server. */
  onMessage(msg: MessageView): void {
    if (msg.type !== IP_MSG.ECHO_RESULT) return;
    const w = this.waiting.get(msg.arg(EchoResult.request));
    if (w === undefined) return; // already timed out
    this.waiting.delete(msg.arg(EchoResult.request));
    w.settle({ status: msg.arg(EchoResult.status), detail: msg.arg(EchoResult.detail), from: msg.arg(EchoResult.from), ttl: msg.arg(EchoResult.ttl), bytes: msg.arg(EchoResult.dataBytes) });
  }

  async ping(address: unknown, options: PingOptions = {}): Promise<PingResult> {
    const { dst, count, intervalMs, timeoutMs, size, ttl } = checkPing(address, options);
    if (this.closed) throw new NewtosError('ERR_STACK_CLOSED', 'the newtos stack is closed');

    const replies: PingReply[] = [];
    const errors: PingFailure[] = [];
    let corrupted = 0;
    let transmitted = 0;
    const one = (seq: number): Promise<void> => new Promise((resolve) => {
      if (this.closed) { resolve(); return; }
      const id = this.nextId++;
      const timer = setTimeout(() => { this.timers.delete(timer); this.waiting.delete(id); resolve(); }, timeoutMs);
      this.timers.add(timer);
      this.waiting.set(id, {
        seq,
        settle: (r) => {
          clearTimeout(timer);
          this.timers.delete(timer);
          if (r !== null) this.record(seq, r, replies, errors, options.onReply, () => corrupted++);
          resolve();
        },
      });
      transmitted++;
      // IP forgets the request a little after we stop waiting for it.
      this.toIp.send(EchoRequest, { request: id, dst, dataBytes: size, ttl, forgetAfterMs: timeoutMs + 1000 });
    });

    const all: Promise<void>[] = [];
    for (let seq = 0; seq < count && !this.closed; seq++) {
      if (seq > 0 && intervalMs > 0) await this.sleep(intervalMs);
      if (this.closed) break;
      all.push(one(seq));
    }
    await Promise.all(all);
    replies.sort((a, b) => a.seq - b.seq);
    const rtts = replies.map((r) => r.rttMs);
    const avg = rtts.reduce((a, b) => a + b, 0) / Math.max(1, rtts.length);
    return {
      address: formatIpv4Address(dst), size, transmitted, received: replies.length,
      lossPct: transmitted === 0 ? 0 : (100 * (transmitted - replies.length)) / transmitted,
      replies, errors, corrupted,
      rtt: rtts.length === 0 ? null : {
        minMs: Math.min(...rtts), avgMs: avg, maxMs: Math.max(...rtts),
        mdevMs: Math.sqrt(rtts.reduce((a, b) => a + (b - avg) ** 2, 0) / rtts.length),
      },
    };
  }

  private record(
    seq: number, r: { status: number; detail: number; from: number; ttl: number; bytes: number },
    replies: PingReply[], errors: PingFailure[], onReply: PingOptions['onReply'], countCorrupt: () => void,
  ): void {
    switch (r.status) {
      case EchoStatus.Reply: {
        const reply = { seq, from: formatIpv4Address(r.from), bytes: r.bytes, ttl: r.ttl, rttMs: r.detail / 1000 };
        replies.push(reply);
        onReply?.(reply);
        return;
      }
      case EchoStatus.ReplyBadData:
        countCorrupt();
        return;
      case EchoStatus.IcmpError: {
        const type = r.detail >>> 8;
        const code = r.detail & 0xff;
        errors.push({
          seq, code: type === IcmpType.DestUnreachable ? unreachableErrno(code) : type === IcmpType.ParameterProblem ? 'EPROTO' : 'EHOSTUNREACH',
          message: `From ${formatIpv4Address(r.from)} icmp_seq=${seq} ${icmpErrorText(type, code)}`,
          from: formatIpv4Address(r.from), icmpType: type, icmpCode: code,
        });
        return;
      }
      default: {
        const code = ECHO_SEND_ERRORS[r.detail] ?? 'EIO';
        errors.push({ seq, code, message: `ping: sendmsg: ${code}` });
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => { clearTimeout(t); this.sleepers.delete(wake); resolve(); };
      const t = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  /** The stack is closing: every outstanding request ends now as lost; no new ones are sent. */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const wake of [...this.sleepers]) wake();
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiting) w.settle(null);
  }
}
