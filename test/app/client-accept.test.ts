// The application side of accepts: an accept announced again for an earlier use of a socket
// slot (the slot went to a newer connection since) is dropped, not taken for the new one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StackClient, type ClientLinks } from '../../src/app/client.js';
import { createSocketTable, SocketTable } from '../../src/abi/socket-table.js';
import { packPorts, SockAccept, SockListen, SockListenReply } from '../../src/abi/message-args.js';
import { packSocketHandle } from '../../src/abi/protocol.js';
import { MessageView } from '../../src/substrate/message.js';
import { MSG_WORDS } from '../../src/substrate/layout.js';
import type { NetSocket } from '../../src/app/net-socket.js';

test('an accept naming an older generation of its slot is dropped; the current one is taken', async () => {
  const table = new SocketTable(createSocketTable({ slots: 4, sendCapacity: 4096, recvCapacity: 4096, tableEvents: true }));
  let deliver: (m: MessageView) => void = () => {};
  const toSock: { kind: unknown; values: Record<string, number> }[] = [];
  const links = {
    toSock: { send: (kind: unknown, values: Record<string, number>) => { toSock.push({ kind, values }); } },
    fromSock: { start: (fn: (m: MessageView) => void) => { deliver = fn; }, attach: () => {} },
    toTcp: [{ send: () => {} }],
    tcpTables: [table],
  } as unknown as ClientLinks;
  const client = new StackClient(links);
  const accepted: NetSocket[] = [];
  const listening = client.listen({ port: 80, host: '0.0.0.0', backlog: 8 }, { onConnection: (s) => accepted.push(s), onError: (e) => { throw e; } });
  const listen = toSock.find((m) => m.kind === SockListen)!;
  const m = new MessageView(new Int32Array(MSG_WORDS));
  SockListenReply.write(m, { listener: listen.values['listener']!, error: 0, port: 80 });
  deliver(m);
  const server = await listening;
  try {
    // The slot's first connection was accepted, taken, closed; the server gave the slot to a second one.
    const slot = 2;
    const first = table.recycle(slot);
    const second = table.recycle(slot);
    const accept = (generation: number): void => {
      const a = new MessageView(new Int32Array(MSG_WORDS));
      SockAccept.write(a, {
        listener: listen.values['listener']!, handle: packSocketHandle(0, slot), remoteAddr: 0x0a000002, localAddr: 0x0a000001,
        ports: packPorts(40000, 80), generation,
      });
      deliver(a);
    };
    accept(first); // the first connection's accept, announced again by a restarted TCP server
    assert.equal(accepted.length, 0, 'not taken for the slot\'s new connection');
    assert.equal(client.socketStats().duplicateAccepts, 1);
    accept(second);
    assert.equal(accepted.length, 1, 'the current connection is accepted');
    assert.equal(accepted[0]!.remotePort, 40000);
    assert.equal(accepted[0]!.localPort, 80);
    assert.equal(accepted[0]!.remoteAddress, '10.0.0.2');
    accept(second); // and its own repeat is a duplicate as before
    assert.equal(accepted.length, 1);
    assert.equal(client.socketStats().duplicateAccepts, 2);
  } finally {
    for (const s of accepted) s.destroy();
    server.close();
  }
});
