/**
 * Datagram records in a UDP socket block's byte rings (socket-block.ts). A
 * datagram socket's send ring (app → UDP server) and receive ring (UDP server
 * → app) carry whole datagrams as records, so message boundaries survive:
 *
 *   +0  u16  payload length (big-endian), at most DGRAM_MAX_PAYLOAD
 *   +2  u32  IPv4 address: the destination in the send ring, the source in the receive ring
 *   +6  u16  port: likewise
 *   +8  payload
 *
 * In the receive ring a record whose length field is PORT_UNREACHABLE_NOTICE
 * (above any payload length) carries no payload: it tells the app that a
 * datagram it sent to (address, port) drew an ICMP port unreachable, in order
 * with the datagrams around it (a connected socket reports ECONNREFUSED, as
 * Linux does; others ignore it).
 *
 * A record is published whole (writeAt for header and payload, then one
 * advanceTail), so the consumer never sees half a record: a header in the ring
 * means its payload is there too. A record either fits or is not written
 * (the producer decides: the app queues and waits for space; the UDP server
 * drops and counts, as UDP may, RFC 768 promises no delivery).
 */
import type { ByteRing } from './byte-ring.js';

export const DGRAM_RECORD_HEADER = 8;
/** Largest UDP payload over IPv4: 65535 - 20 (IPv4 header) - 8 (UDP header). */
export const DGRAM_MAX_PAYLOAD = 65507;

/** Length-field value of a port-unreachable notice (receive ring only). */
export const PORT_UNREACHABLE_NOTICE = 0xffff;

export interface DgramRecordHeader {
  readonly length: number;
  readonly address: number;
  readonly port: number;
}

export type RecordPeek =
  | { readonly kind: 'record'; readonly header: DgramRecordHeader }
  /** A port-unreachable notice about (address, port); consume it with `consumeNotice`. */
  | { readonly kind: 'port-unreachable'; readonly address: number; readonly port: number }
  | { readonly kind: 'empty' }
  /** Bytes in the ring that cannot be a record (a broken producer): the consumer discards them. */
  | { readonly kind: 'corrupt' };

/** Reads and writes records; holds an 8-byte scratch header (one per user, no sharing). */
export class DgramRecordCodec {
  private readonly hdr = new Uint8Array(DGRAM_RECORD_HEADER);

  /** Bytes a record of `payloadLength` takes in a ring. */
  static size(payloadLength: number): number {
    return DGRAM_RECORD_HEADER + payloadLength;
  }

  /** Write one whole record, or nothing when it does not fit. */
  write(ring: ByteRing, address: number, port: number, payload: Uint8Array): boolean {
    const len = payload.length;
    if (len > DGRAM_MAX_PAYLOAD || ring.freeSpace() < DGRAM_RECORD_HEADER + len) return false;
    this.header(len, address, port);
    ring.writeAt(0, this.hdr);
    if (len > 0) ring.writeAt(DGRAM_RECORD_HEADER, payload);
    ring.advanceTail(DGRAM_RECORD_HEADER + len);
    return true;
  }

  /** Write a port-unreachable notice about (address, port), or nothing when it does not fit. */
  writeNotice(ring: ByteRing, address: number, port: number): boolean {
    if (ring.freeSpace() < DGRAM_RECORD_HEADER) return false;
    this.header(PORT_UNREACHABLE_NOTICE, address, port);
    ring.writeAt(0, this.hdr);
    ring.advanceTail(DGRAM_RECORD_HEADER);
    return true;
  }

  private header(len: number, address: number, port: number): void {
    const h = this.hdr;
    h[0] = len >>> 8; h[1] = len & 0xff;
    h[2] = address >>> 24; h[3] = (address >>> 16) & 0xff; h[4] = (address >>> 8) & 0xff; h[5] = address & 0xff;
    h[6] = (port >>> 8) & 0xff; h[7] = port & 0xff;
  }

  /** The header of the record at the ring's head, without consuming it. */
  peek(ring: ByteRing): RecordPeek {
    const avail = ring.available();
    if (avail === 0) return { kind: 'empty' };
    if (avail < DGRAM_RECORD_HEADER) return { kind: 'corrupt' };
    const h = this.hdr;
    ring.copyOut(0, h, 0, DGRAM_RECORD_HEADER);
    const length = (h[0]! << 8) | h[1]!;
    const address = ((h[2]! << 24) | (h[3]! << 16) | (h[4]! << 8) | h[5]!) >>> 0;
    const port = (h[6]! << 8) | h[7]!;
    if (length === PORT_UNREACHABLE_NOTICE) return { kind: 'port-unreachable', address, port };
    if (length > DGRAM_MAX_PAYLOAD || avail < DGRAM_RECORD_HEADER + length) return { kind: 'corrupt' };
    return { kind: 'record', header: { length, address, port } };
  }

  /** Copy the payload of the record at the head into dst[dstOffset..] (after peek said 'record'). */
  copyPayload(ring: ByteRing, header: DgramRecordHeader, dst: Uint8Array, dstOffset = 0): void {
    if (header.length > 0) ring.copyOut(DGRAM_RECORD_HEADER, dst, dstOffset, header.length);
  }

  /** Consume the notice at the head. */
  consumeNotice(ring: ByteRing): void {
    ring.consume(DGRAM_RECORD_HEADER);
  }

  /** Consume the record at the head. */
  consume(ring: ByteRing, header: DgramRecordHeader): void {
    ring.consume(DGRAM_RECORD_HEADER + header.length);
  }
}
