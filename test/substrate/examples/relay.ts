/**
 * Example server, the minimal one: forwards every message from input `in`
 * to output `out` unchanged (the rich pointer travels; the bytes do not),
 * stamped with its own generation. When `out` is full it returns false and
 * the message stays queued: back-pressure flows upstream on its own.
 *
 * options: { spinMsPerMessage?: number, buildSpinMsFromGeneration?: [generation, ms] }
 *   spinMsPerMessage: burn this much CPU per message (a server busy with a long batch);
 *   buildSpinMsFromGeneration: from that generation on, burn ms of CPU while being built
 *   (a successor slow to start).
 */
import type { ServerContext, ServerCore } from '../../../src/substrate/server.js';
import { monotonicMs } from '../../../src/substrate/stats.js';

export function createServer(ctx: ServerContext): ServerCore {
  const out = ctx.outputs.out!;
  const spinMs = Number(ctx.options.spinMsPerMessage ?? 0);
  const slowBuild = ctx.options.buildSpinMsFromGeneration as [number, number] | undefined;
  if (slowBuild !== undefined && ctx.generation >= slowBuild[0]) spin(slowBuild[1]);
  let peerRestarts = 0;
  return {
    onMessage(msg) {
      const v = out.reserve();
      if (v === null) return false;
      if (spinMs > 0) spin(spinMs);
      v.copyFrom(msg).setGen(ctx.generation);
      out.commit();
      return true;
    },
    onPeerRestart(peer, generation) {
      // A stateless forwarder has nothing outstanding: the rings kept every
      // message, and the sink dedups re-deliveries (restart-protocol.ts).
      peerRestarts++;
      ctx.log('peer-restart-seen', { peer, generation, peerRestarts, at: monotonicMs() });
    },
  };
}

function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* busy on purpose */ }
}
