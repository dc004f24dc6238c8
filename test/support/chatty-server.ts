// A server that prints one line to stdout and one to stderr when it starts, and does
// nothing else: shows that a server thread's output reaches the user.
import type { ServerContext, ServerCore } from '../../src/substrate/server.js';

export function createServer(_ctx: ServerContext): ServerCore {
  console.log('chatty server thread says hello on stdout');
  console.error('chatty server thread says hello on stderr');
  return { onMessage: () => true };
}
