/**
 * IPv4 identification values (RFC 791 §3.2, RFC 6864).
 *
 * RFC 6864 §4.1: the ID of an atomic datagram (DF set, not a fragment) has no
 * meaning, but a datagram that may be fragmented (DF clear) MUST NOT repeat an
 * ID for the same (source, destination, protocol) within the maximum datagram
 * lifetime, or a receiver could glue fragments of two datagrams together.
 *
 * As Linux's __ip_select_ident (net/ipv4/route.c, ip_idents_reserve): a keyed
 * hash of (source, destination, protocol) picks one of `buckets` counters, and
 * a datagram reserves as many consecutive IDs as it will become datagrams on
 * the wire: a TCP segmentation-offload burst cut into n segments takes n, and
 * the driver numbers them id, id + 1, ... (src/driver/offload.ts). Two
 * destinations sharing a bucket only make each other's IDs advance faster; an
 * observer of one destination learns nothing about traffic to others in other
 * buckets. A counter idle for a while advances by a random amount below the
 * idle time in ms (Linux does the same in jiffies), so its value says little
 * about how much was sent; capped at 1024 here so that the jump itself cannot
 * wrap the counter onto IDs sent within the lifetime.
 */
import type { Rng } from '../random/rng.js';
import { randomKey, SipHash24 } from '../random/siphash.js';

export const IP_IDENT_BUCKETS = 2048;
/** Largest random advance of an idle counter. */
const MAX_IDLE_JUMP = 1024;

export class IpIdentGenerator {
  private readonly prf: SipHash24;
  private readonly words = new Uint32Array(3);
  private readonly next: Uint16Array;
  private readonly stamp: Float64Array;

  constructor(private readonly rng: Rng, buckets = IP_IDENT_BUCKETS) {
    if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError(`buckets must be a positive integer, got ${buckets}`);
    this.prf = new SipHash24(randomKey(rng));
    this.next = new Uint16Array(buckets);
    for (let i = 0; i < buckets; i++) this.next[i] = rng.nextU32();
    this.stamp = new Float64Array(buckets).fill(-Infinity);
  }

  /**
   * Reserves `count` (1..65535) consecutive IDs for datagrams from `src` to `dst`
   * carrying `protocol`, and returns the first (the others follow mod 2^16).
   */
  reserve(src: number, dst: number, protocol: number, count: number, now: number): number {
    const w = this.words;
    w[0] = src; w[1] = dst; w[2] = protocol;
    const b = this.prf.hashWords(w, 3) % this.next.length;
    const last = this.stamp[b]!;
    let delta = 0;
    if (now > last && last !== -Infinity) {
      const idle = Math.floor(now - last);
      if (idle > 0) delta = this.rng.nextU32() % Math.min(idle, MAX_IDLE_JUMP);
    }
    this.stamp[b] = now;
    const id = (this.next[b]! + delta) & 0xffff;
    this.next[b] = id + count;
    return id;
  }
}
