/**
 * Node's own `http` over newtos. Nothing of http is reimplemented: an
 * `http.Server` gets newtos sockets through its documented 'connection' event,
 * and clients get them through an `http.Agent` whose createConnection opens a
 * newtos connection. Handlers and request code stay unmodified.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { NetServer } from './net-server.js';
import type { NetSocket } from './net-socket.js';

export interface NetLike {
  createServer(listener?: (socket: NetSocket) => void): NetServer;
  connect(options: { port: number; host: string }, cb?: () => void): NetSocket;
}

/**
 * Serve `server` (a plain `http.createServer(handler)`) over newtos. Returns the
 * newtos listener; close it to stop accepting (the http.Server's close() also works).
 */
export function serveHttp(net: NetLike, server: http.Server, port: number, host = '0.0.0.0', cb?: () => void): NetServer {
  const listener = net.createServer((socket) => server.emit('connection', socket));
  listener.on('error', (err) => server.emit('error', err));
  listener.listen(port, host, cb);
  // http.Server.close() stops its own (absent) handle; forward it to ours too.
  const origClose = server.close.bind(server);
  server.close = ((callback?: (err?: Error) => void) => {
    listener.close();
    return origClose(callback);
  }) as typeof server.close;
  return listener;
}

/** An http.Agent whose connections go over newtos. */
export function createHttpAgent(net: NetLike, options: http.AgentOptions = {}): http.Agent {
  class NewtosAgent extends http.Agent {
    // Returned synchronously, like net.createConnection: the Agent then uses it
    // at once, and the request bytes wait in the socket until it connects.
    override createConnection(opts: { port?: number | null; host?: string | null }): Duplex {
      return net.connect({ port: Number(opts.port ?? 80), host: opts.host ?? 'localhost' });
    }
  }
  return new NewtosAgent(options);
}
