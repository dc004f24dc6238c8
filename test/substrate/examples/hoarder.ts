/**
 * Example (test) server: a borrower that keeps every buffer it receives
 * (`ctx.buffers.hold`) and never gives one back, so a test can kill it and
 * watch the supervisor return the buffers to their owner.
 *
 * options: { results: SharedArrayBuffer (Int32 [held]) }
 */
import type { ServerContext, ServerCore } from '../../../src/substrate/server.js';

export function createServer(ctx: ServerContext): ServerCore {
  const r = new Int32Array(ctx.options.results as SharedArrayBuffer);
  return {
    onMessage(msg) {
      if (msg.hasBuffer && ctx.buffers.hold(msg)) Atomics.add(r, 0, 1);
      return true;
    },
  };
}
