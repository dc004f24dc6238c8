/**
 * Ephemeral port selection, RFC 6056 Algorithm 4 ("Double-Hash Port Selection").
 *
 * Read first: RFC 6056 §2.1 (the range), §3.3.4 (Algorithm 4), §3.5 (why a
 * port that is in use must be skipped, not reused).
 *
 * RFC 6056 §3.3.4:
 *   offset = F(local_IP, remote_IP, remote_port, secret_key1);
 *   index  = G(local_IP, remote_IP, remote_port, secret_key2);
 *   do {
 *       port = min_ephemeral + (offset + table[index]) % num_ephemeral;
 *       table[index]++;
 *       if (check_suitable_port(port)) return port;
 *       count--;
 *   } while (count > 0);
 *   return ERROR;
 *
 * F and G are the low and high halves of one SipHash-2-4 (64-bit output) of
 * the destination under a secret key; `table` starts random ("table[i] =
 * random() % 65536"). Successive connections to one destination get
 * successive ports (so reuse of a recent 4-tuple is unlikely), while the port
 * sequence towards one destination reveals nothing about another's.
 *
 * `isFree(port)` is RFC 6056's check_suitable_port: the caller says whether the
 * port is unused for this destination AND acceptable to it — a stack replica
 * (issue 5) also insists the port's RSS hash maps back to itself. When no port
 * in the range qualifies, `allocate` returns undefined (EADDRNOTAVAIL for the caller).
 *
 * Range: default 49152-65535, RFC 6056 §2.1's "IANA range" (Linux uses
 * 32768-60999; configure min/max for that).
 */
import type { Rng } from '../random/rng.js';
import { randomKey, SipHash24 } from '../random/siphash.js';

export interface EphemeralPortsOptions {
  /** Randomness for the secret key (if not given) and the initial table. */
  readonly rng: Rng;
  /** 16-byte secret key; default drawn from rng. */
  readonly key?: Uint8Array;
  /** Lowest port of the range; default 49152. */
  readonly min?: number;
  /** Highest port of the range (inclusive); default 65535. */
  readonly max?: number;
  /** Number of perturbation counters (RFC 6056 TABLE_LENGTH); default 1024. */
  readonly tableLength?: number;
}

export class EphemeralPorts {
  readonly min: number;
  readonly max: number;
  private readonly prf: SipHash24;
  private readonly table: Uint32Array;
  private readonly words = new Uint32Array(3);

  constructor(options: EphemeralPortsOptions) {
    this.min = options.min ?? 49152;
    this.max = options.max ?? 65535;
    if (!(Number.isInteger(this.min) && Number.isInteger(this.max) && this.min >= 1 && this.max <= 65535 && this.min <= this.max)) {
      throw new RangeError(`EphemeralPorts: range ${this.min}-${this.max} must satisfy 1 <= min <= max <= 65535`);
    }
    const len = options.tableLength ?? 1024;
    if (!(Number.isInteger(len) && len >= 1 && len <= 1 << 20)) {
      throw new RangeError(`EphemeralPorts: tableLength ${len} must be in [1, 2**20]`);
    }
    this.prf = new SipHash24(options.key ?? randomKey(options.rng));
    this.table = new Uint32Array(len);
    for (let i = 0; i < len; i++) this.table[i] = options.rng.nextU32() % 65536;
  }

  /** Number of ports in the range. */
  get size(): number {
    return this.max - this.min + 1;
  }

  /**
   * Choose a local port for a connection from localAddr to remoteAddr:remotePort
   * (IPv4 as uint32). Tries each port of the range at most once, in the order
   * of Algorithm 4, and returns the first for which isFree returns true, or
   * undefined if none does.
   */
  allocate(localAddr: number, remoteAddr: number, remotePort: number, isFree: (port: number) => boolean, skip = 0): number | undefined {
    const w = this.words;
    w[0] = localAddr; w[1] = remoteAddr; w[2] = remotePort & 0xffff;
    const offset = this.prf.hashWords(w, 3); // F
    const index = this.prf.hi % this.table.length; // G
    // `skip`: start that many ports further on (a random skip makes the port random, as
    // RFC 6056 Algorithm 1; see TcpEngine.ephemeralPort for why replicas want it).
    this.table[index] = this.table[index]! + skip;
    const n = this.size;
    for (let count = n; count > 0; count--) {
      const port = this.min + ((offset + this.table[index]!) % n);
      this.table[index] = this.table[index]! + 1;
      if (isFree(port)) return port;
    }
    return undefined;
  }
}
