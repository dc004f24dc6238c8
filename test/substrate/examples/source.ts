/**
 * Example server: emits `count` DATA messages (seq 0, 1, ...; args[0] =
 * pumpMix(seq)) on output `out`, at `ratePerMs` messages per ms (0 = as fast
 * as the channel takes them). With `pool` set, each message also carries a
 * buffer from that pool holding the 8-byte payload (seq, mix) little-endian,
 * which the sink checks and gives back.
 *
 * options: { count: number, ratePerMs?: number, pool?: string }
 */
import type { ServerContext, ServerCore } from '../../../src/substrate/server.js';
import { EXAMPLE_MSG } from '../../../src/substrate/message-types.js';
import { pumpMix } from './ring-pump.js';

export function createServer(ctx: ServerContext): ServerCore {
  const out = ctx.outputs.out!;
  const count = Number(ctx.options.count ?? 0);
  const rate = Number(ctx.options.ratePerMs ?? 0);
  const pool = typeof ctx.options.pool === 'string' ? ctx.pools[ctx.options.pool] : undefined;
  // Resume where the previous generation stopped (the sink dedups any overlap).
  let sent = Number(ctx.store.get('sent') ?? 0);
  const t0 = ctx.now() - (rate > 0 ? sent / rate : 0);
  let blockedUntil = -Infinity;
  let lastSaved = sent;

  const due = (): number => (rate > 0 ? t0 + sent / rate : -Infinity);

  return {
    onMessage: () => true,
    poll(now) {
      blockedUntil = -Infinity;
      while (sent < count && due() <= now) {
        const v = out.reserve();
        if (v === null) { blockedUntil = Infinity; return; } // full: the consumer rings us when it frees space
        const mix = pumpMix(sent);
        v.set(EXAMPLE_MSG.DATA, ctx.generation, sent).setArg(0, mix);
        if (pool !== undefined) {
          const i = pool.alloc();
          if (i < 0) { ctx.stats.setPoolExhausted(pool.exhausted); blockedUntil = now + 0.2; return; } // exhausted: back-pressure, retry soon
          const at = pool.payloadOffset(i);
          const b = pool.bytes;
          b[at] = sent; b[at + 1] = sent >>> 8; b[at + 2] = sent >>> 16; b[at + 3] = sent >>> 24;
          b[at + 4] = mix; b[at + 5] = mix >>> 8; b[at + 6] = mix >>> 16; b[at + 7] = mix >>> 24;
          pool.lend(v, i, 8);
        }
        out.commit();
        sent++;
      }
      if (sent - lastSaved >= 4096 || sent === count) { ctx.store.set('sent', sent); lastSaved = sent; }
    },
    pollAt() {
      if (sent >= count) return Infinity;
      return Math.max(due(), blockedUntil);
    },
  };
}
