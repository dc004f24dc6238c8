/**
 * A token bucket in virtual time: `rate` tokens per second up to `burst`.
 * Used to rate-limit ARP requests and ICMP errors (RFC 1812 §4.3.2.8 asks
 * routers to limit the rate of ICMP errors; a token bucket is the usual way).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(readonly ratePerSecond: number, readonly burst: number, now = 0) {
    this.tokens = burst;
    this.last = now;
  }

  /** Take one token if available at `now` (ms). */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  available(now: number): number {
    this.refill(now);
    return Math.floor(this.tokens);
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.ratePerSecond) / 1000);
      this.last = now;
    }
  }
}
