/**
 * Example server, the minimal one: forwards every message from input `in`
 * to output `out` unchanged (the rich pointer travels; the bytes do not),
 * stamped with its own generation. When `out` is full it returns false and
 * the message stays queued: back-pressure flows upstream on its own.
 *
 * options: {}
 */
import type { ServerContext, ServerCore } from '../../../src/substrate/server.js';

export function createServer(ctx: ServerContext): ServerCore {
  const out = ctx.outputs.out!;
  let peerRestarts = 0;
  return {
    onMessage(msg) {
      const v = out.reserve();
      if (v === null) return false;
      v.copyFrom(msg).setGen(ctx.generation);
      out.commit();
      return true;
    },
    onPeerRestart(peer, generation) {
      // A stateless forwarder has nothing outstanding: the rings kept every
      // message, and the sink dedups re-deliveries (restart-protocol.ts).
      peerRestarts++;
      ctx.log('peer-restart-seen', { peer, generation, peerRestarts });
    },
  };
}
