/**
 * Classic libpcap capture files (https://www.tcpdump.org/manpages/pcap-savefile.5.html,
 * draft-ietf-opsawg-pcap): a 24-byte file header, then per packet a 16-byte
 * record header and the captured bytes. We write little-endian files with
 * microsecond timestamps and LINKTYPE_ETHERNET; the reader accepts either byte
 * order and microsecond or nanosecond magic, so files from tcpdump open too.
 *
 * File header: 0 magic | 4 major(2) | 6 minor(2) | 8 thiszone | 12 sigfigs | 16 snaplen | 20 linktype
 * Record:      0 ts_sec | 4 ts_usec (or nsec) | 8 incl_len | 12 orig_len | 16 data
 */
import { type ParseResult, fail, ok } from './parse-result.js';

export const PCAP_MAGIC_MICROS = 0xa1b2c3d4;
export const PCAP_MAGIC_NANOS = 0xa1b23c4d;
export const PCAP_FILE_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;
export const LINKTYPE_ETHERNET = 1;
/** Largest record we accept when reading (tcpdump's own limit is 262144). */
export const PCAP_MAX_RECORD = 262144;

export interface PcapRecord {
  /** Capture time in microseconds since the epoch (rounded down from nanosecond files). */
  readonly timestampMicros: number;
  /** Length of the packet on the wire; may exceed data.length when truncated to snaplen. */
  readonly origLen: number;
  readonly data: Uint8Array;
}

export interface PcapFile {
  readonly linktype: number;
  readonly snaplen: number;
  readonly nanosecond: boolean;
  readonly records: readonly PcapRecord[];
}

export type PcapParseError = 'truncated-header' | 'bad-magic' | 'truncated-record' | 'record-too-long';

/** Builds a pcap file in memory. Pure: the caller decides where the bytes go. */
export class PcapWriter {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  constructor(readonly snaplen = 65535, readonly linktype = LINKTYPE_ETHERNET) {
    const h = new Uint8Array(PCAP_FILE_HEADER_LEN);
    const v = new DataView(h.buffer);
    v.setUint32(0, PCAP_MAGIC_MICROS, true);
    v.setUint16(4, 2, true);
    v.setUint16(6, 4, true);
    v.setInt32(8, 0, true);
    v.setUint32(12, 0, true);
    v.setUint32(16, snaplen, true);
    v.setUint32(20, linktype, true);
    this.push(h);
  }

  /**
   * Append one frame captured at `timestampMicros` (integer microseconds since
   * the epoch). `origLen`: its length on the wire, when `frame` was already cut short.
   */
  write(frame: Uint8Array, timestampMicros: number, origLen = frame.length): void {
    const incl = Math.min(frame.length, this.snaplen);
    const r = new Uint8Array(PCAP_RECORD_HEADER_LEN + incl);
    const v = new DataView(r.buffer);
    const t = Math.max(0, Math.floor(timestampMicros));
    v.setUint32(0, Math.floor(t / 1e6) >>> 0, true);
    v.setUint32(4, t % 1e6, true);
    v.setUint32(8, incl, true);
    v.setUint32(12, Math.max(origLen, incl), true);
    r.set(frame.subarray(0, incl), PCAP_RECORD_HEADER_LEN);
    this.push(r);
  }

  /** The file so far. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) { out.set(c, at); at += c.length; }
    return out;
  }

  private push(c: Uint8Array): void {
    this.chunks.push(c);
    this.size += c.length;
  }
}

/** Read a whole pcap file; record data are views into `bytes`. */
export function readPcap(bytes: Uint8Array): ParseResult<PcapFile, PcapParseError> {
  if (bytes.length < PCAP_FILE_HEADER_LEN) return fail('truncated-header');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let little: boolean;
  let nanosecond: boolean;
  const le = v.getUint32(0, true);
  const be = v.getUint32(0, false);
  if (le === PCAP_MAGIC_MICROS || le === PCAP_MAGIC_NANOS) { little = true; nanosecond = le === PCAP_MAGIC_NANOS; }
  else if (be === PCAP_MAGIC_MICROS || be === PCAP_MAGIC_NANOS) { little = false; nanosecond = be === PCAP_MAGIC_NANOS; }
  else return fail('bad-magic');
  const snaplen = v.getUint32(16, little);
  // The link type's upper bits may carry FCS information (pcap-savefile(5)).
  const linktype = v.getUint32(20, little) & 0x0fffffff;
  const records: PcapRecord[] = [];
  let at = PCAP_FILE_HEADER_LEN;
  while (at < bytes.length) {
    if (bytes.length - at < PCAP_RECORD_HEADER_LEN) return fail('truncated-record');
    const sec = v.getUint32(at, little);
    const frac = v.getUint32(at + 4, little);
    const incl = v.getUint32(at + 8, little);
    const orig = v.getUint32(at + 12, little);
    if (incl > PCAP_MAX_RECORD) return fail('record-too-long');
    if (bytes.length - at - PCAP_RECORD_HEADER_LEN < incl) return fail('truncated-record');
    const start = at + PCAP_RECORD_HEADER_LEN;
    records.push({
      timestampMicros: sec * 1e6 + (nanosecond ? Math.floor(frac / 1000) : frac),
      origLen: orig,
      data: bytes.subarray(start, start + incl),
    });
    at = start + incl;
  }
  return ok({ linktype, snaplen, nanosecond, records });
}
