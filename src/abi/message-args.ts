/**
 * The argument words of every message kind of protocol.ts, named once. A server reads a
 * field as `msg.arg(SegDeliver.ttl)`: the name says what it reads, the table says where it
 * lies, and the read is the same single Int32Array load as before (the tables are frozen
 * objects of small integers, so nothing is allocated per message).
 *
 * Writers that fill a reserved slot use the names too (`m.setArg(FrameRx.iface, ...)`);
 * `send(type, seq, a0, a1, ...)` and the control paths' argument arrays take the words
 * positionally, in the order of the table below; the unit test
 * (test/abi/message-args.test.ts) checks that every table names distinct words in 0..5 and
 * that every message kind of protocol.ts has one.
 */
import { MSG_ARGS } from '../substrate/layout.js';
import { DRIVER_MSG, IP_MSG, PF_MSG, SOCK_MSG, TCP_MSG, UDP_MSG } from './protocol.js';

type Fields = Readonly<Record<string, number>>;

const byType = new Map<number, Fields>();

/** Declares the argument words of message `type`; refuses a word outside 0..5 or used twice. */
function args<const T extends Record<string, number>>(type: number, fields: T): Readonly<T> {
  const seen = new Set<number>();
  for (const [name, word] of Object.entries(fields)) {
    if (!Number.isInteger(word) || word < 0 || word >= MSG_ARGS || seen.has(word)) {
      throw new RangeError(`message 0x${type.toString(16)}: field ${name} has word ${word} (used or outside 0..${MSG_ARGS - 1})`);
    }
    seen.add(word);
  }
  if (byType.has(type)) throw new RangeError(`message 0x${type.toString(16)} declared twice`);
  const frozen = Object.freeze({ ...fields });
  byType.set(type, frozen);
  return frozen;
}

/** The field table of a message kind (tests and tools; not the hot path). */
export function messageArgs(type: number): Fields | undefined {
  return byType.get(type);
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
export const TcpAccepted = args(TCP_MSG.ACCEPTED, { listener: 0, slot: 1, remoteAddr: 2, remotePort: 3, localAddr: 4, localPort: 5 });
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
export const SockAccept = args(SOCK_MSG.ACCEPT, { listener: 0, handle: 1, remoteAddr: 2, remotePort: 3, localAddr: 4, localPort: 5 });
export const SockUnlisten = args(SOCK_MSG.UNLISTEN, { listener: 0 });
export const SockUdpBind = args(SOCK_MSG.UDP_BIND, { socket: 0, localAddr: 1, localPort: 2 });
export const SockUdpBindReply = args(SOCK_MSG.UDP_BIND_REPLY, { socket: 0, handle: 1, error: 2, port: 3, address: 4 });
export const SockUdpClose = args(SOCK_MSG.UDP_CLOSE, { handle: 0 });
