/**
 * The sans-IO UDP core (RFC 768, RFC 1122 §4.1): port bindings, demultiplexing
 * of received datagrams, checksums, and the request for ICMP port unreachable
 * when nobody listens (RFC 1122 §4.1.3.1; the IP core then applies RFC 1122
 * §3.2.2's "never about broadcasts" and its rate limit).
 *
 * Bindings: a socket binds (address, port); address 0 is the wildcard. A port
 * bound on the wildcard conflicts with every binding of that port, a specific
 * address only with itself and the wildcard (EADDRINUSE either way).
 * Demultiplexing prefers the exact address over the wildcard.
 */
import type { Rng } from '../random/rng.js';
import { UDP_HEADER_LEN, emitUdp, parseUdp } from '../wire/udp.js';
import { IpProtocol } from '../wire/ipv4.js';
import { SEND_HEADROOM } from '../ip/ip-core.js';
import type { TransportSend } from '../ip/ip-types.js';

export const UDP_EPHEMERAL_LOW = 49152;
export const UDP_EPHEMERAL_HIGH = 65535;

export type UdpBindResult =
  | { readonly ok: true; readonly port: number }
  | { readonly ok: false; readonly code: 'EADDRINUSE' | 'EADDRNOTAVAIL' | 'EINVAL' | 'EAGAIN' };

/** A datagram delivered by the IP core (its 'deliver' output for protocol 17). */
export interface UdpDatagramIn {
  readonly src: number;
  readonly dst: number;
  /** UDP header and data. */
  readonly payload: Uint8Array;
  /** The whole IPv4 datagram, quoted if an ICMP error is due. */
  readonly datagram: Uint8Array;
}

export type UdpDropReason = 'truncated' | 'bad-length' | 'bad-checksum' | 'no-port';

export type UdpInputResult =
  | {
    readonly type: 'deliver'; readonly socket: number; readonly srcAddr: number; readonly srcPort: number;
    readonly dstAddr: number; readonly dstPort: number; readonly data: Uint8Array;
  }
  /** Ask the IP core for ICMP port unreachable about `datagram` (IpCore.sendIcmpError(datagram, 'dest-unreachable', 3, now)). */
  | { readonly type: 'port-unreachable'; readonly datagram: Uint8Array }
  | { readonly type: 'drop'; readonly reason: Exclude<UdpDropReason, 'no-port'> };

export interface UdpCounters {
  received: number;
  delivered: number;
  /** Invariant: received = delivered + sum(drops). */
  drops: Record<UdpDropReason, number>;
  sent: number;
}

export interface UdpCoreOptions {
  readonly rng: Rng;
  /** Is this one of our addresses? (bind to anything else is EADDRNOTAVAIL). */
  readonly isLocalAddress: (address: number) => boolean;
  /** Verify checksums of received datagrams (off when a NIC did). */
  readonly verifyChecksum?: boolean;
  /** Restricts ephemeral ports, e.g. to ports whose RSS hash maps to this replica. */
  readonly ephemeralPortFilter?: (port: number) => boolean;
}

interface Binding { readonly socket: number; readonly address: number }

export class UdpCore {
  readonly counters: UdpCounters = {
    received: 0, delivered: 0, drops: { truncated: 0, 'bad-length': 0, 'bad-checksum': 0, 'no-port': 0 }, sent: 0,
  };
  private readonly byPort = new Map<number, Binding[]>();
  private readonly bySocket = new Map<number, { address: number; port: number }>();

  constructor(private readonly opts: UdpCoreOptions) {}

  /** Bind `socket` to (address, port); port 0 picks an ephemeral port. */
  bind(socket: number, address: number, port: number): UdpBindResult {
    if (this.bySocket.has(socket) || !Number.isInteger(port) || port < 0 || port > 65535) return { ok: false, code: 'EINVAL' };
    if (address !== 0 && !this.opts.isLocalAddress(address)) return { ok: false, code: 'EADDRNOTAVAIL' };
    if (port === 0) {
      const span = UDP_EPHEMERAL_HIGH - UDP_EPHEMERAL_LOW + 1;
      const start = this.opts.rng.nextU32() % span;
      const filter = this.opts.ephemeralPortFilter;
      for (let k = 0; k < span; k++) {
        const p = UDP_EPHEMERAL_LOW + ((start + k) % span);
        if ((filter === undefined || filter(p)) && this.free(address, p)) {
          port = p;
          break;
        }
      }
      if (port === 0) return { ok: false, code: 'EAGAIN' };
    } else if (!this.free(address, port)) {
      return { ok: false, code: 'EADDRINUSE' };
    }
    const list = this.byPort.get(port) ?? [];
    list.push({ socket, address });
    this.byPort.set(port, list);
    this.bySocket.set(socket, { address, port });
    return { ok: true, port };
  }

  unbind(socket: number): boolean {
    const b = this.bySocket.get(socket);
    if (b === undefined) return false;
    this.bySocket.delete(socket);
    const list = (this.byPort.get(b.port) ?? []).filter((x) => x.socket !== socket);
    if (list.length === 0) this.byPort.delete(b.port);
    else this.byPort.set(b.port, list);
    return true;
  }

  localEndpoint(socket: number): { address: number; port: number } | null {
    return this.bySocket.get(socket) ?? null;
  }

  onDatagram(d: UdpDatagramIn): UdpInputResult {
    this.counters.received++;
    const r = parseUdp(d.payload, 0, d.payload.length, d.src, d.dst, this.opts.verifyChecksum ?? true);
    if (!r.ok) {
      this.counters.drops[r.reason]++;
      return { type: 'drop', reason: r.reason };
    }
    const list = this.byPort.get(r.value.dstPort);
    let target: Binding | undefined;
    if (list !== undefined) target = list.find((b) => b.address === d.dst) ?? list.find((b) => b.address === 0);
    if (target === undefined) {
      this.counters.drops['no-port']++;
      return { type: 'port-unreachable', datagram: d.datagram };
    }
    this.counters.delivered++;
    return {
      type: 'deliver', socket: target.socket, srcAddr: d.src, srcPort: r.value.srcPort, dstAddr: d.dst, dstPort: r.value.dstPort,
      data: d.payload.subarray(UDP_HEADER_LEN, UDP_HEADER_LEN + r.value.payloadLen),
    };
  }

  /**
   * Build the datagram for `data` sent from `socket` to (dst, dstPort), with
   * headroom for the IP and link headers. Null if the socket is not bound.
   * `data` is copied; to avoid the copy, place the data at buf[SEND_HEADROOM + 8..]
   * yourself and use `emitInPlace`.
   */
  send(socket: number, dst: number, dstPort: number, data: Uint8Array): TransportSend | null {
    const buf = new Uint8Array(SEND_HEADROOM + UDP_HEADER_LEN + data.length);
    buf.set(data, SEND_HEADROOM + UDP_HEADER_LEN);
    return this.emitInPlace(socket, dst, dstPort, buf, SEND_HEADROOM, data.length);
  }

  /** Write the UDP header at buf[offset..] for `len` data bytes already at buf[offset+8..]. */
  emitInPlace(socket: number, dst: number, dstPort: number, buf: Uint8Array, offset: number, len: number): TransportSend | null {
    const b = this.bySocket.get(socket);
    if (b === undefined || offset + UDP_HEADER_LEN + len > buf.length || UDP_HEADER_LEN + len > 0xffff) return null;
    // With a wildcard binding the IP core picks the source and completes the checksum.
    emitUdp({ srcPort: b.port, dstPort, payloadLen: len }, buf, offset, b.address, dst);
    this.counters.sent++;
    return {
      protocol: IpProtocol.UDP, src: b.address, dst, payload: buf.subarray(offset, offset + UDP_HEADER_LEN + len), headroom: offset,
    };
  }

  private free(address: number, port: number): boolean {
    const list = this.byPort.get(port);
    if (list === undefined) return true;
    if (address === 0) return false;
    return !list.some((b) => b.address === 0 || b.address === address);
  }
}
