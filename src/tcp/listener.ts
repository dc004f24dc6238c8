/**
 * Passive open (gVisor accept.go): a listener's SYN queue (half-open
 * connections, bounded), its accept queue (established, bounded by the
 * backlog), and SYN cookies when the SYN queue is full.
 *
 * Read first: RFC 9293 §3.10.7.2 (segment arrives in LISTEN), RFC 4987 §3.6
 * (SYN cookies), RFC 7323 §2.2/§3.2 (which options a SYN-ACK may carry).
 */
import type { ConnectionOptions } from './config.js';

export class Listener {
  readonly id: number;
  readonly addr: number;
  readonly port: number;
  readonly backlog: number;
  readonly opts: ConnectionOptions;
  /** Established connections waiting for accept(), oldest first. */
  readonly acceptQueue: number[] = [];
  /** Half-open (SYN-RECEIVED) connections created from this listener. */
  synCount = 0;
  /** When this listener last answered with a SYN cookie (ms; cookie ACKs are accepted for a while after). */
  lastOverflow = -Infinity;

  constructor(id: number, addr: number, port: number, backlog: number, opts: ConnectionOptions) {
    this.id = id;
    this.addr = addr;
    this.port = port;
    this.backlog = backlog;
    this.opts = opts;
  }
}
