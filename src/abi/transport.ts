/**
 * What a transport (TCP, UDP, the IP server's own ICMP) hands the IP core to
 * send, and how much room it leaves before its header so IP and the link can
 * prepend theirs in place.
 */
import { ETH_VLAN_HEADER_LEN } from '../wire/ethernet.js';
import { IPV4_MIN_HEADER_LEN } from '../wire/ipv4.js';

/** Room kept before every IP header we build: an Ethernet header with an 802.1Q tag. */
export const LINK_HEADROOM = ETH_VLAN_HEADER_LEN;
/** Room before locally built transport/ICMP messages: link header + a 20-byte IP header. */
export const SEND_HEADROOM = LINK_HEADROOM + IPV4_MIN_HEADER_LEN;

/** A datagram from a transport (TCP, UDP, ICMP sockets). */
export interface TransportSend {
  readonly protocol: number;
  /**
   * Source address, or 0 to use the outgoing interface's address. With 0, a
   * TCP/UDP checksum computed with source 0.0.0.0 is completed by the core.
   */
  readonly src: number;
  readonly dst: number;
  /** The transport header and data. */
  readonly payload: Uint8Array;
  /**
   * Free bytes before `payload` in its buffer that the core may overwrite with
   * the IP and link headers (34 or more avoids a copy; 38 with VLANs).
   */
  readonly headroom: number;
  readonly ttl?: number;
  readonly tos?: number;
  readonly dontFragment?: boolean;
  /**
   * A TCP segmentation-offload burst (TxFlag.Gso): payload bytes per wire segment. It may
   * exceed the MTU (the driver cuts it up) and its TCP checksum is not filled.
   */
  readonly gsoMss?: number;
  /**
   * TCP only (TxFlag.ChecksumPartial): the TCP checksum is not filled. The driver
   * completes it, or hands it to a link that does (checksum offload); IP fills it
   * itself before it must cut the datagram into fragments.
   */
  readonly checksumPartial?: boolean;
  /** Echoed in a send-error, so the transport can tell which send failed. */
  readonly token?: number;
}
