/**
 * The messages the stack's servers exchange (DESIGN.md "Who asks whom"), in
 * the type blocks of src/substrate/message-types.ts. One table per channel
 * direction; every argument word is named. Addresses are u32 IPv4 numbers;
 * ports are u16. Packet bytes travel only by rich pointer (pool, generation,
 * offset, length); nothing here copies a payload.
 *
 *   driver → ip      FRAME_RX        ptr: Ethernet frame in the driver's rx pool
 *   ip → driver      FRAME_TX        ptr: Ethernet frame (IP's, TCP's or UDP's pool)
 *   driver → ip      LINK_STATE      interface up/down, MTU, MAC
 *   ip → pf          VERDICT_REQUEST ptr: IPv4 packet (PF reads, never holds it)
 *   pf → ip          VERDICT
 *   ip → tcp|udp     SEG_DELIVER     ptr: transport header + payload
 *   ip → tcp|udp     ICMP_ERROR      an ICMP error about a packet we sent
 *   tcp → ip         TCP_SEG_SEND    ptr: TCP segment with headroom for IPv4+Ethernet
 *   udp → ip         UDP_DGRAM_SEND  ptr: UDP datagram with headroom
 *   tcp|udp → ip     SEND_ICMP_ERROR ptr: a delivered IPv4 datagram to quote (port unreachable)
 *   app → ip         ECHO_REQUEST    send an ICMP echo request (stack.ping)
 *   ip → app         ECHO_RESULT     its reply, an ICMP error about it, or why it could not be sent
 *   sock → tcp|udp   control requests; tcp|udp → sock replies and accept notices
 *   app → sock       control requests; sock → app replies and accepts
 *   app → tcp|udp    KICK            "look at my socket block" (data path wake-up)
 */
import { MSG_BLOCK } from '../substrate/message-types.js';

export const DRIVER_MSG = {
  /**
   * a0 interface index, a1 rx queue, a2 RxFlag bits, a3 RSS hash, a4 GSO segment size: for a
   * TCP packet larger than the wire allows (a link's super-frame, a GRO-merged packet), the
   * payload bytes of each segment it was or will be made of; 0 for an ordinary frame.
   */
  FRAME_RX: MSG_BLOCK.DRIVER + 0x01,
  /** a0 interface index, a1 TxFlag bits, a2 GSO MSS (with TxFlag.Gso: TCP payload bytes per wire segment). */
  FRAME_TX: MSG_BLOCK.DRIVER + 0x02,
  /** a0 interface index, a1 1 = up / 0 = down, a2 MTU, a3 MAC high 16 bits, a4 MAC low 32 bits. */
  LINK_STATE: MSG_BLOCK.DRIVER + 0x03,
} as const;

export const RxFlag = {
  /** The backend verified the transport checksum (offload). */
  ChecksumVerified: 1,
} as const;

export const TxFlag = {
  /** The transport checksum holds only the pseudo-header sum; the backend completes it. */
  ChecksumPartial: 1,
  /**
   * A TCP segmentation-offload burst, possibly longer than the link MTU: the driver cuts it
   * into segments of (GSO MSS) payload bytes, each with its own IPv4 and TCP checksums
   * (software GSO, as Linux's for NICs without TSO). The burst's TCP checksum is not filled.
   */
  Gso: 2,
} as const;

export const IP_MSG = {
  /**
   * a0 source address, a1 destination address, a2 interface index, a3 bit0: checksum verified, a4 TTL,
   * a5 length of the IPv4 header lying in the buffer just before the pointer (0: not there). With it a
   * transport can quote the whole datagram in SEND_ICMP_ERROR.
   */
  SEG_DELIVER: MSG_BLOCK.IP + 0x01,
  /**
   * a0 ICMP type << 8 | code, a1 next-hop MTU (fragmentation needed) or 0,
   * a2 quoted source address, a3 quoted destination address,
   * a4 quoted source port << 16 | destination port, a5 quoted protocol.
   */
  ICMP_ERROR: MSG_BLOCK.IP + 0x02,
  /** a0 request id, a1 Direction, a2 interface index. ptr: the IPv4 packet. */
  VERDICT_REQUEST: MSG_BLOCK.IP + 0x03,
  /**
   * tcp|udp → ip: send an ICMP error about a delivered datagram (UDP port unreachable,
   * RFC 1122 §4.1.3.1); IP applies RFC 1122 §3.2.2's suppressions and its rate limit.
   * a0 ICMP type << 8 | code. ptr: the whole IPv4 datagram (SEG_DELIVER's pointer moved back by
   * its a5); IP gives the buffer back.
   */
  SEND_ICMP_ERROR: MSG_BLOCK.IP + 0x04,
  /**
   * app → ip: send one ICMP echo request (RFC 792) built by IP (src/ip/echo-client.ts).
   * a0 request id, a1 destination address, a2 data bytes (0..65507), a3 TTL (0 = default),
   * a4 ms after which IP forgets the request.
   */
  ECHO_REQUEST: MSG_BLOCK.IP + 0x05,
  /**
   * ip → app: how an ECHO_REQUEST ended. a0 request id, a1 EchoStatus; a2 round-trip time in
   * microseconds (reply), ICMP type << 8 | code (ICMP error) or ECHO_SEND_ERRORS index (send
   * failed); a3 address of the replier or reporter, a4 reply TTL, a5 reply data bytes.
   * Nothing is sent for a request that simply got no answer: the application times it out.
   */
  ECHO_RESULT: MSG_BLOCK.IP + 0x06,
} as const;

export const Direction = { In: 0, Out: 1 } as const;

export const PF_MSG = {
  /** a0 request id, a1 Verdict, a2 rule number (1-based; 0 = default policy). */
  VERDICT: MSG_BLOCK.PF + 0x01,
} as const;

export const Verdict = { Accept: 0, Drop: 1, RejectRst: 2, RejectIcmp: 3 } as const;

export const TCP_MSG = {
  /** tcp → ip. a0 source address, a1 destination address, a2 TxFlag bits, a3 GSO MSS (with TxFlag.Gso). ptr: the TCP segment. */
  SEG_SEND: MSG_BLOCK.TCP + 0x01,
  /** sock → tcp. a0 request id, a1 remote address, a2 remote port, a3 local address (0 = any), a4 local port (0 = ephemeral). */
  CONNECT: MSG_BLOCK.TCP + 0x10,
  /** tcp → sock. a0 request id, a1 slot or -1, a2 error index + 1 (0 = none), a3 local address, a4 local port. */
  CONNECT_REPLY: MSG_BLOCK.TCP + 0x11,
  /** sock → tcp. a0 request id, a1 local address, a2 local port, a3 backlog. */
  LISTEN: MSG_BLOCK.TCP + 0x12,
  /** tcp → sock. a0 request id, a1 listener id or -1, a2 error index + 1, a3 bound port. */
  LISTEN_REPLY: MSG_BLOCK.TCP + 0x13,
  /** tcp → sock. a0 listener id, a1 slot, a2 remote address, a3 remote port, a4 local address, a5 local port. */
  ACCEPTED: MSG_BLOCK.TCP + 0x14,
  /** sock → tcp. a0 listener id. */
  UNLISTEN: MSG_BLOCK.TCP + 0x15,
  /** app → tcp. a0 slot: the app changed the socket block (data, window space, flags). */
  KICK: MSG_BLOCK.TCP + 0x16,
  /** app → tcp. a0 slot, a1 SocketOption, a2 value. */
  SET_OPTION: MSG_BLOCK.TCP + 0x17,
  /** tcp → sock. a0 slot: the connection is gone and the app released it; the slot is free. */
  RELEASED: MSG_BLOCK.TCP + 0x18,
} as const;

export const SocketOption = { NoDelay: 1, KeepAlive: 2 } as const;

export const UDP_MSG = {
  /** udp → ip. a0 source address, a1 destination address, a2 TxFlag bits. ptr: the UDP datagram. */
  DGRAM_SEND: MSG_BLOCK.UDP + 0x01,
  /** sock → udp. a0 request id, a1 local address, a2 local port (0 = ephemeral). */
  BIND: MSG_BLOCK.UDP + 0x10,
  /** udp → sock. a0 request id, a1 slot or -1, a2 error index + 1, a3 bound port, a4 bound address. */
  BIND_REPLY: MSG_BLOCK.UDP + 0x11,
  /** app → udp. a0 slot: records are waiting in the socket's send ring (sent only when S_TX_ARMED). */
  KICK: MSG_BLOCK.UDP + 0x12,
  /** sock → udp. a0 slot: send what is queued, unbind, free the slot. */
  CLOSE: MSG_BLOCK.UDP + 0x13,
} as const;

export const SOCK_MSG = {
  /** app → sock. a0 app socket id, a1 remote address, a2 remote port, a3 local address, a4 local port. */
  CONNECT: MSG_BLOCK.SOCK + 0x01,
  /** sock → app. a0 app socket id, a1 replica << 24 | slot (or -1), a2 error index + 1, a3 local address, a4 local port. */
  CONNECT_REPLY: MSG_BLOCK.SOCK + 0x02,
  /** app → sock. a0 app listener id, a1 local address, a2 local port, a3 backlog. */
  LISTEN: MSG_BLOCK.SOCK + 0x03,
  /** sock → app. a0 app listener id, a1 error index + 1, a2 bound port. */
  LISTEN_REPLY: MSG_BLOCK.SOCK + 0x04,
  /** sock → app. a0 app listener id, a1 replica << 24 | slot, a2 remote address, a3 remote port, a4 local address, a5 local port. */
  ACCEPT: MSG_BLOCK.SOCK + 0x05,
  /** app → sock. a0 app listener id. */
  UNLISTEN: MSG_BLOCK.SOCK + 0x06,
  /** app → sock. a0 app socket id, a1 local address, a2 local port. */
  UDP_BIND: MSG_BLOCK.SOCK + 0x07,
  /** sock → app. a0 app socket id, a1 replica << 24 | slot (or -1), a2 error index + 1, a3 bound port, a4 bound address. */
  UDP_BIND_REPLY: MSG_BLOCK.SOCK + 0x08,
  /** app → sock. a0 replica << 24 | slot. */
  UDP_CLOSE: MSG_BLOCK.SOCK + 0x09,
} as const;

/** Socket handle as it crosses channels: replica in the top 8 bits, slot below. */
export function packSocketHandle(replica: number, slot: number): number {
  return ((replica & 0xff) << 24 | (slot & 0xffffff)) >>> 0;
}

export function unpackSocketHandle(handle: number): { replica: number; slot: number } {
  return { replica: handle >>> 24, slot: handle & 0xffffff };
}
