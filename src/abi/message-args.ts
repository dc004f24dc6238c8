/**
 * The argument words of every message kind of protocol.ts, named once, and the only way
 * servers read and write them. A server reads a field as `msg.arg(SegDeliver.ttl)`: the
 * name says what it reads, the table says where it lies, and the read is the same single
 * Int32Array load as before (the tables are frozen objects of small integers, so nothing is
 * allocated per message).
 *
 * Each table is also its kind's writer, so a word is named where it is written too:
 *
 * - per packet, in a slot already reserved (allocation-free): `FrameRx.start(m)` sets the
 *   type and sequence and zeroes the six words, and returns the kind's setter, one method
 *   per field: `FrameRx.start(m).iface(i).rxQueue(q).rxFlags(f).rssHash(h).gsoSize(0)`;
 * - control paths, from a small object that must name every field (the compiler checks
 *   the names and that none is missing): `TcpKick.send(out, { slot })` reserves, writes,
 *   clears the pointer and commits (false when the channel is full), `TcpKick.write(m, …)`
 *   fills a slot the caller reserved, and `outgoing(TcpKick, { slot })` keeps a message
 *   to send later (an Outbox's item).
 *
 * A word the table does not name is written 0. The unit test
 * (test/abi/message-args.test.ts) checks that every table names distinct words in 0..5,
 * that every message kind of protocol.ts has one, and that every writer writes exactly the
 * words its table names.
 */
import { MSG_ARG0, MSG_ARGS, NO_POOL } from '../substrate/layout.js';
import type { MessageView } from '../substrate/message.js';
import type { OutChannel } from '../substrate/channel.js';
import { DRIVER_MSG, IP_MSG, PF_MSG, SOCK_MSG, TCP_MSG, UDP_MSG } from './protocol.js';

type Fields = Readonly<Record<string, number>>;

/** A value for every field of table F (a control path's message). */
export type ArgValues<F> = { readonly [K in keyof F]: number };

/** One method per field of F, writing that field's word of the started slot; chains. */
export type ArgSetter<F> = { readonly [K in keyof F]: (value: number) => ArgSetter<F> };

/** The writers every table carries (names no field may take). */
interface KindWriters<F> {
  /** The message type (protocol.ts). */
  readonly type: number;
  /**
   * Starts this kind in the reserved slot `m`: type (no flags), sequence, all six argument
   * words 0; the pointer is left as it is (lend a buffer before or after). Returns the
   * kind's setter aimed at `m` (one per kind, reused: nothing is allocated).
   */
  start(m: MessageView, seq?: number): ArgSetter<F>;
  /** start(m, seq) and every field from `values`. */
  write(m: MessageView, values: ArgValues<F>, seq?: number): MessageView;
  /** Reserves a slot on `out`, writes it with no buffer and commits; false when `out` is full. */
  send(out: OutChannel, values: ArgValues<F>, seq?: number): boolean;
}

/** A message kind: its fields' word numbers (to read: `msg.arg(Kind.field)`) and its writers. */
export type MessageKind<F extends Fields> = Readonly<F> & KindWriters<F>;

/** Any message kind, its fields unknown (what a queue of mixed messages holds). */
export interface AnyMessageKind {
  readonly type: number;
  start(m: MessageView, seq?: number): { readonly [field: string]: (value: number) => unknown };
  write(m: MessageView, values: Fields, seq?: number): MessageView;
  send(out: OutChannel, values: Fields, seq?: number): boolean;
}

/** The field values of message kind K (`ValuesOf<typeof UdpBindReply>`). */
export type ValuesOf<K extends AnyMessageKind> = K extends { write(m: MessageView, values: infer V, seq?: number): MessageView } ? V : never;

/** A control message kept to send later: its kind and the value of every field. */
export interface Outgoing {
  readonly kind: AnyMessageKind;
  readonly values: Fields;
}

/** A message to send later, its values checked against its kind's fields. */
export function outgoing<K extends AnyMessageKind>(kind: K, values: ValuesOf<K>): Outgoing {
  return { kind, values };
}

/** Sends a kept message on `out`; false when full. */
export function sendOutgoing(out: OutChannel, o: Outgoing): boolean {
  return o.kind.send(out, o.values);
}

const RESERVED = new Set(['type', 'start', 'write', 'send']);
if (MSG_ARGS !== 6) throw new Error('message-args.ts: start() clears six argument words');
const tables = new Map<number, Fields>();
const kinds = new Map<number, AnyMessageKind>();

/**
 * Declares the argument words of message `type` and builds its writers; refuses a word
 * outside 0..5 or used twice, and a field named like a writer.
 */
function args<const F extends Record<string, number>>(type: number, fields: F & { type?: never; start?: never; write?: never; send?: never }): MessageKind<F> {
  const seen = new Set<number>();
  for (const [name, word] of Object.entries(fields)) {
    if (RESERVED.has(name)) throw new RangeError(`message 0x${type.toString(16)}: field name ${name} is taken by the writers`);
    if (!Number.isInteger(word) || word < 0 || word >= MSG_ARGS || seen.has(word)) {
      throw new RangeError(`message 0x${type.toString(16)}: field ${name} has word ${word} (used or outside 0..${MSG_ARGS - 1})`);
    }
    seen.add(word);
  }
  if (tables.has(type)) throw new RangeError(`message 0x${type.toString(16)} declared twice`);
  const table = Object.freeze({ ...fields });
  const names = Object.keys(table);
  const words = names.map((n) => table[n]!);
  // The setter writes into the slot `start` aimed it at.
  let target: Int32Array = new Int32Array(0);
  let base = 0;
  const setter: Record<string, (value: number) => unknown> = {};
  for (let k = 0; k < names.length; k++) {
    const at = MSG_ARG0 + words[k]!;
    setter[names[k]!] = (value: number) => { target[base + at] = value; return setter; };
  }
  Object.freeze(setter);
  const start = (m: MessageView, seq = 0): ArgSetter<F> => {
    m.setType(type).setSeq(seq);
    // The six words unrolled: a loop here made per-packet writes about twice as slow.
    const w = m.words; const b = m.base + MSG_ARG0;
    w[b] = 0; w[b + 1] = 0; w[b + 2] = 0; w[b + 3] = 0; w[b + 4] = 0; w[b + 5] = 0;
    target = w; base = m.base;
    return setter as ArgSetter<F>;
  };
  const write = (m: MessageView, values: ArgValues<F>, seq = 0): MessageView => {
    start(m, seq);
    const w = m.words; const b = m.base + MSG_ARG0;
    const v = values as Readonly<Record<string, number>>;
    for (let k = 0; k < names.length; k++) w[b + words[k]!] = v[names[k]!]!;
    return m;
  };
  const send = (out: OutChannel, values: ArgValues<F>, seq = 0): boolean => {
    const m = out.reserve();
    if (m === null) return false;
    write(m, values, seq).setPointer(NO_POOL, 0, 0, 0);
    out.commit();
    return true;
  };
  const kind = Object.freeze({ ...table, type, start, write, send });
  tables.set(type, table);
  kinds.set(type, kind as unknown as AnyMessageKind);
  return kind as unknown as MessageKind<F>;
}

/** The field table of a message kind (tests and tools; not the hot path). */
export function messageArgs(type: number): Fields | undefined {
  return tables.get(type);
}

/** The kind (table and writers) of a message type (tests and tools; not the hot path). */
export function messageKind(type: number): AnyMessageKind | undefined {
  return kinds.get(type);
}

// driver ⇄ ip
/** rxFlags: RxFlag bits; gsoSize: payload bytes per segment of a super-frame (0: an ordinary frame). */
export const FrameRx = args(DRIVER_MSG.FRAME_RX, { iface: 0, rxQueue: 1, rxFlags: 2, rssHash: 3, gsoSize: 4 });
/** txFlags: TxFlag bits; gsoMss: TCP payload bytes per wire segment (with TxFlag.Gso). */
export const FrameTx = args(DRIVER_MSG.FRAME_TX, { iface: 0, txFlags: 1, gsoMss: 2 });
export const LinkState = args(DRIVER_MSG.LINK_STATE, { iface: 0, up: 1, mtu: 2, macHigh16: 3, macLow32: 4 });

// ip → transports, pf, app
/** flags bit 0: checksum verified; ipHeaderLen: the IPv4 header's length just before the pointer (0: not there). */
export const SegDeliver = args(IP_MSG.SEG_DELIVER, { src: 0, dst: 1, iface: 2, flags: 3, ttl: 4, ipHeaderLen: 5 });
/** typeCode: ICMP type << 8 | code; ports: quoted source port << 16 | destination port. */
export const IcmpError = args(IP_MSG.ICMP_ERROR, { typeCode: 0, mtu: 1, quotedSrc: 2, quotedDst: 3, ports: 4, protocol: 5 });
export const VerdictRequest = args(IP_MSG.VERDICT_REQUEST, { request: 0, direction: 1, iface: 2 });
export const SendIcmpError = args(IP_MSG.SEND_ICMP_ERROR, { typeCode: 0 });
/** ttl 0: the default; forgetAfterMs: when IP forgets the request. */
export const EchoRequest = args(IP_MSG.ECHO_REQUEST, { request: 0, dst: 1, dataBytes: 2, ttl: 3, forgetAfterMs: 4 });
/** detail: RTT in µs (reply), ICMP type << 8 | code (error) or a send-error index. */
export const EchoResult = args(IP_MSG.ECHO_RESULT, { request: 0, status: 1, detail: 2, from: 3, ttl: 4, dataBytes: 5 });

// pf → ip
/** rule: 1-based rule number, 0 for the default policy. */
export const VerdictReply = args(PF_MSG.VERDICT, { request: 0, verdict: 1, rule: 2 });

// tcp
export const TcpSegSend = args(TCP_MSG.SEG_SEND, { src: 0, dst: 1, txFlags: 2, gsoMss: 3 });
/** localAddr 0: any; localPort 0: ephemeral. */
export const TcpConnect = args(TCP_MSG.CONNECT, { request: 0, remoteAddr: 1, remotePort: 2, localAddr: 3, localPort: 4 });
/** slot: -1 on failure (read with argI32); error: error index + 1, 0 for none. */
export const TcpConnectReply = args(TCP_MSG.CONNECT_REPLY, { request: 0, slot: 1, error: 2, localAddr: 3, localPort: 4 });
export const TcpListen = args(TCP_MSG.LISTEN, { request: 0, localAddr: 1, localPort: 2, backlog: 3 });
/** listener: -1 on failure (argI32). */
export const TcpListenReply = args(TCP_MSG.LISTEN_REPLY, { request: 0, listener: 1, error: 2, port: 3 });
/**
 * ports: remotePort << 16 | localPort (packPorts). generation: the slot's generation when it was
 * handed out (socket-table.ts): an accept announced again after the slot went to another
 * connection names an older one, and the application drops it.
 */
export const TcpAccepted = args(TCP_MSG.ACCEPTED, { listener: 0, slot: 1, remoteAddr: 2, localAddr: 3, ports: 4, generation: 5 });
export const TcpUnlisten = args(TCP_MSG.UNLISTEN, { listener: 0 });
export const TcpKick = args(TCP_MSG.KICK, { slot: 0 });
/** option: SocketOption. */
export const TcpSetOption = args(TCP_MSG.SET_OPTION, { slot: 0, option: 1, value: 2 });
export const TcpReleased = args(TCP_MSG.RELEASED, { slot: 0 });

// udp
export const UdpDgramSend = args(UDP_MSG.DGRAM_SEND, { src: 0, dst: 1, txFlags: 2 });
export const UdpBind = args(UDP_MSG.BIND, { request: 0, localAddr: 1, localPort: 2 });
export const UdpBindReply = args(UDP_MSG.BIND_REPLY, { request: 0, slot: 1, error: 2, port: 3, address: 4 });
export const UdpKick = args(UDP_MSG.KICK, { slot: 0 });
export const UdpClose = args(UDP_MSG.CLOSE, { slot: 0 });

// app ⇄ sock (socket handles: replica << 24 | slot, protocol.ts packSocketHandle)
export const SockConnect = args(SOCK_MSG.CONNECT, { socket: 0, remoteAddr: 1, remotePort: 2, localAddr: 3, localPort: 4 });
export const SockConnectReply = args(SOCK_MSG.CONNECT_REPLY, { socket: 0, handle: 1, error: 2, localAddr: 3, localPort: 4 });
export const SockListen = args(SOCK_MSG.LISTEN, { listener: 0, localAddr: 1, localPort: 2, backlog: 3 });
export const SockListenReply = args(SOCK_MSG.LISTEN_REPLY, { listener: 0, error: 1, port: 2 });
/** ports and generation as in TcpAccepted. */
export const SockAccept = args(SOCK_MSG.ACCEPT, { listener: 0, handle: 1, remoteAddr: 2, localAddr: 3, ports: 4, generation: 5 });

/** Two 16-bit ports in one argument word: remote in the high half, local in the low. */
export function packPorts(remotePort: number, localPort: number): number {
  return (((remotePort & 0xffff) << 16) | (localPort & 0xffff)) >>> 0;
}

export function unpackPorts(word: number): { remotePort: number; localPort: number } {
  return { remotePort: (word >>> 16) & 0xffff, localPort: word & 0xffff };
}
export const SockUnlisten = args(SOCK_MSG.UNLISTEN, { listener: 0 });
export const SockUdpBind = args(SOCK_MSG.UDP_BIND, { socket: 0, localAddr: 1, localPort: 2 });
export const SockUdpBindReply = args(SOCK_MSG.UDP_BIND_REPLY, { socket: 0, handle: 1, error: 2, port: 3, address: 4 });
export const SockUdpClose = args(SOCK_MSG.UDP_CLOSE, { handle: 0 });
