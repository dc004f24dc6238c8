import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeCookieTimestamp, encodeCookieTimestamp, SYN_COOKIE_MSS_TABLE, SYN_COOKIE_PERIOD_MS, SynCookies,
} from '../../src/tcp/syn-cookies.js';
import { SeededRng } from '../../src/random/rng.js';

const L = 0xc0a80001; // 192.168.0.1 (us)
const R = 0xc0a80064; // 192.168.0.100 (client)

test('MSS table selection (Linux msstab)', () => {
  const cases: Array<[number, number]> = [[100, 536], [536, 536], [1299, 536], [1300, 1300], [1400, 1300], [1440, 1440], [1460, 1460], [9000, 1460]];
  for (const [client, want] of cases) assert.equal(SynCookies.cookieMss(client), want, `client ${client}`);
  SYN_COOKIE_MSS_TABLE.forEach((m, i) => assert.equal(SynCookies.mssIndex(m), i));
});

test('property: round trip — the returning ACK validates and yields the MSS', () => {
  const sc = SynCookies.fromRng(new SeededRng(7));
  const u32 = fc.nat({ max: 0xffffffff });
  const port = fc.nat({ max: 0xffff });
  fc.assert(fc.property(u32, port, u32, port, u32, fc.nat(9000), fc.double({ min: 0, max: 1e12, noNaN: true }), fc.nat(SYN_COOKIE_PERIOD_MS - 1),
    (la, lp, ra, rp, isn, mss, now, later) => {
      const cookie = sc.encode(la, lp, ra, rp, isn, mss, now);
      // The client's ACK: SEG.SEQ = ISN + 1, SEG.ACK = cookie + 1; it may arrive within the same or next tick.
      const got = sc.validate(la, lp, ra, rp, (isn + 1) >>> 0, (cookie + 1) >>> 0, now + later);
      assert.equal(got, SynCookies.cookieMss(mss));
    }), { numRuns: 2000 });
});

test('expiry: valid in the current and the previous 64 s tick, not after', () => {
  const sc = SynCookies.fromRng(new SeededRng(8));
  const t0 = 10 * SYN_COOKIE_PERIOD_MS + 5;
  const cookie = sc.encode(L, 80, R, 40000, 1000, 1460, t0);
  const check = (t: number): number | undefined => sc.validate(L, 80, R, 40000, 1001, (cookie + 1) >>> 0, t);
  assert.equal(check(t0), 1460);
  assert.equal(check(11 * SYN_COOKIE_PERIOD_MS + SYN_COOKIE_PERIOD_MS - 1), 1460, 'previous tick');
  assert.equal(check(12 * SYN_COOKIE_PERIOD_MS), undefined, 'two ticks later');
  assert.equal(check(9 * SYN_COOKIE_PERIOD_MS), undefined, 'from the future');
  const lenient = new SynCookies(new Uint8Array(16), new Uint8Array(16).fill(1), { maxAge: 4 });
  const c2 = lenient.encode(L, 80, R, 40000, 1000, 1460, t0);
  assert.equal(lenient.validate(L, 80, R, 40000, 1001, c2 + 1, t0 + 3 * SYN_COOKIE_PERIOD_MS), 1460);
});

test('a cookie is bound to its 4-tuple, the client ISN and the key', () => {
  const sc = SynCookies.fromRng(new SeededRng(9));
  const other = SynCookies.fromRng(new SeededRng(10));
  const now = 123_456;
  const cookie = sc.encode(L, 80, R, 40000, 5555, 1460, now);
  const ack = (cookie + 1) >>> 0;
  assert.equal(sc.validate(L, 80, R, 40000, 5556, ack, now), 1460);
  const bad: Array<[string, number | undefined]> = [
    ['other remote port', sc.validate(L, 80, R, 40001, 5556, ack, now)],
    ['other remote addr', sc.validate(L, 80, R + 1, 40000, 5556, ack, now)],
    ['other local port', sc.validate(L, 81, R, 40000, 5556, ack, now)],
    // (As in Linux, offsets below 4 only move the MSS index: an ACK that is off by one
    // needs the cookie, i.e. an on-path attacker, and yields another table MSS at worst.)
    ['other client ISN', sc.validate(L, 80, R, 40000, 5556 + 1000, ack, now)],
    ['ack off by 1000', sc.validate(L, 80, R, 40000, 5556, ack + 1000, now)],
    ['ack off by 2**24', sc.validate(L, 80, R, 40000, 5556, (ack + 2 ** 24) >>> 0, now)],
    ['other key', other.validate(L, 80, R, 40000, 5556, ack, now)],
  ];
  for (const [name, v] of bad) assert.equal(v, undefined, name);
});

test('forged cookies: random ACK numbers are (practically) never accepted', () => {
  const sc = SynCookies.fromRng(new SeededRng(11));
  const rng = new SeededRng(12);
  let accepted = 0;
  const n = 200_000;
  for (let i = 0; i < n; i++) {
    if (sc.validate(L, 80, R, 40000 + (i & 1023), rng.nextU32(), rng.nextU32(), 1e9) !== undefined) accepted++;
  }
  // Expected acceptance ~ 2/256 * 4/2**24 ~ 2**-29 per try: 200 000 tries expect ~0.0004.
  assert.equal(accepted, 0);
});

test('timestamp carries window scale and SACK-permitted (Linux layout), never ahead of the clock', () => {
  const cases: Array<[string, number | undefined, boolean]> = [
    ['wscale 7 + sack', 7, true], ['wscale 0', 0, false], ['no wscale, sack', undefined, true], ['wscale 14', 14, false],
  ];
  for (const [name, wscale, sackPermitted] of cases) {
    for (const now of [0, 63, 64, 1_000_000, 0xffffffff]) {
      const ts = encodeCookieTimestamp(now, { wscale, sackPermitted });
      const back = (now - ts) >>> 0;
      assert.ok(back < 128, `${name} at ${now}: ${ts}`);
      assert.deepEqual(decodeCookieTimestamp(ts), { wscale, sackPermitted }, name);
    }
  }
  assert.deepEqual(decodeCookieTimestamp(0xffffffc0 | 0x0f), { wscale: undefined, sackPermitted: false }, 'upper bits ignored');
});
