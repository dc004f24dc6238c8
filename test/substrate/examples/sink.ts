/**
 * Example server: consumes DATA messages from input `in`, accepts each
 * sequence number exactly once and in order (SeqDedup), checks the payload
 * (args[0] and, with a buffer, the bytes) and gives buffers back to their
 * owner. Results go to a SharedArrayBuffer the test or demo passed in
 * options (readable at any time): see SINK_RESULT.
 *
 * options: { results: SharedArrayBuffer (SINK_RESULT_WORDS Int32) }
 */
import type { ServerContext, ServerCore } from '../../../src/substrate/server.js';
import { EXAMPLE_MSG } from '../../../src/substrate/message-types.js';
import { SeqDedup } from '../../../src/substrate/restart-protocol.js';
import { pumpFold, pumpMix } from './ring-pump.js';

export const SINK_RESULT = {
  RECEIVED: 0, DUPLICATES: 1, GAPS: 2, NEXT: 3, CHECKSUM: 4, BAD_PAYLOAD: 5, PEER_RESTARTS: 6, STALE: 7,
} as const;
export const SINK_RESULT_WORDS = 8;

export function createServer(ctx: ServerContext): ServerCore {
  const r = new Int32Array(ctx.options.results as SharedArrayBuffer);
  // Resume the dedup state the previous generation left in the shared results.
  const dedup = new SeqDedup(Atomics.load(r, SINK_RESULT.NEXT));
  return {
    onMessage(msg) {
      if (msg.type !== EXAMPLE_MSG.DATA) return true;
      const seq = msg.seq;
      // A pointer of a pool owner's dead generation: drop it before the dedup
      // sees the seq, so the owner's successor can send that seq again.
      if (msg.hasBuffer && !ctx.buffers.isCurrent(msg)) { Atomics.add(r, SINK_RESULT.STALE, 1); return true; }
      const verdict = dedup.accept(seq);
      if (verdict === 'duplicate') { Atomics.add(r, SINK_RESULT.DUPLICATES, 1); return true; }
      if (verdict === 'gap') Atomics.add(r, SINK_RESULT.GAPS, 1);
      let ok = msg.argI32(0) === pumpMix(seq);
      if (msg.hasBuffer) {
        const b = ctx.buffers.resolve(msg);
        if (b === null) { Atomics.add(r, SINK_RESULT.STALE, 1); ok = false; }
        else {
          const at = msg.offset;
          const s = b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24);
          const m = b[at + 4]! | (b[at + 5]! << 8) | (b[at + 6]! << 16) | (b[at + 7]! << 24);
          if (s !== (seq | 0) || m !== pumpMix(seq) || msg.length !== 8) ok = false;
          ctx.buffers.giveBack(msg);
        }
      }
      if (!ok) Atomics.add(r, SINK_RESULT.BAD_PAYLOAD, 1);
      Atomics.store(r, SINK_RESULT.CHECKSUM, pumpFold(Atomics.load(r, SINK_RESULT.CHECKSUM), seq | 0, pumpMix(seq)));
      Atomics.store(r, SINK_RESULT.NEXT, dedup.next);
      Atomics.add(r, SINK_RESULT.RECEIVED, 1);
      return true;
    },
    onPeerRestart() {
      Atomics.add(r, SINK_RESULT.PEER_RESTARTS, 1);
    },
  };
}
