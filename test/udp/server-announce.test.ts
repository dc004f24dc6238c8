// A UDP server that dies while its BIND reply waits in its memory (SOCK's channel full) takes
// the reply with it, although the BIND was consumed and the binding stored. Its successor
// answers again every stored binding the application has not taken (AppFlag.Adopted), so the
// application's bind() completes; a binding the application has is not answered again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UdpBind, UdpBindReply } from '../../src/abi/message-args.js';
import { UDP_MSG } from '../../src/abi/protocol.js';
import { AppFlag } from '../../src/abi/socket-block.js';
import { SocketTable, createSocketTable } from '../../src/abi/socket-table.js';
import { LocalDataStore } from '../../src/substrate/data-store.js';
import { createDoorbell } from '../../src/substrate/doorbell.js';
import { MSG_WORDS, MessageView, NO_POOL } from '../../src/substrate/message.js';
import { PacketPool, PoolDirectory, createPool } from '../../src/substrate/pool.js';
import type { ServerContext, ServerCore } from '../../src/substrate/server.js';
import { ControlBlock, createControlBlock } from '../../src/substrate/stats.js';
import { createServer, type UdpServerOptions } from '../../src/udp/server.js';
import { createUdpStats } from '../../src/udp/udp-stats.js';
import { RecordingOut } from '../support/recording-out.js';

const LOCAL = 0xc0000201;

test('a BIND reply that died in the UDP server\'s memory is sent again by its successor, once', async () => {
  const tableSab = createSocketTable({ slots: 4, sendCapacity: 4096, recvCapacity: 4096 });
  const poolSab = createPool({ id: 1, bufSize: 2048, count: 8 });
  const options: UdpServerOptions = { socketTable: tableSab, stats: createUdpStats(), addresses: [LOCAL] };
  const store: Record<string, unknown> = {};
  const inputs = { ip: { name: 'udp.ip', peer: 'ip' }, sock: { name: 'udp.sock', peer: 'sock' } };
  const toSock = new RecordingOut('udp.sock', 'sock');
  let generation = 0;
  const start = (): ServerCore => {
    generation++;
    const ctx: ServerContext = {
      name: 'udp', index: 0, generation, inputs,
      outputs: { ip: new RecordingOut('udp.ip', 'ip'), sock: toSock },
      pools: { udp: new PacketPool(poolSab, 0, generation) }, buffers: new PoolDirectory(0),
      store: new LocalDataStore('udp', { ...store }, (w) => {
        if (w.kind === 'store-set') store[w.key] = w.value;
        else if (w.kind === 'store-delete') delete store[w.key];
      }),
      stats: new ControlBlock(createControlBlock()),
      options: options as unknown as Record<string, unknown>,
      doorbell: createDoorbell(),
      now: () => 0,
      log: () => {},
    };
    return createServer(ctx);
  };
  const replies = (): MessageView[] => toSock.messages.filter((m) => m.type === UDP_MSG.BIND_REPLY);

  let udp = start();
  toSock.full = true; // SOCK does not read: the reply waits in the server's memory
  const bind = UdpBind.write(new MessageView(new Int32Array(MSG_WORDS)), { request: 5, localAddr: 0, localPort: 5353 }).setGen(1).setPointer(NO_POOL, 0, 0, 0);
  assert.equal(udp.onMessage(bind, inputs.sock, 0), true, 'the BIND is consumed');
  udp.poll?.(1);
  assert.equal(replies().length, 0);
  toSock.full = false;
  udp = start(); // the first server died with the reply
  assert.equal(replies().length, 1, 'the successor answers the stored binding');
  const r = replies()[0]!;
  assert.deepEqual([r.arg(UdpBindReply.request), r.arg(UdpBindReply.error), r.arg(UdpBindReply.port)], [5, 0, 5353]);
  // The application takes the socket; the next successor does not answer again.
  new SocketTable(tableSab).block(r.argI32(UdpBindReply.slot)).appSetFlags(AppFlag.Adopted);
  udp = start();
  assert.equal(replies().length, 1);
  udp.poll?.(2);
});
