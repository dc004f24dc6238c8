// A TCP server that dies while its accept or connect reply to SOCK waits in its memory (SOCK's
// channel full) takes that message with it. Its successor resumes the connection from the
// checkpoint, and must announce it again, or the application never gets the socket: the peer
// has an established connection nobody reads. Slots the application has taken (AppFlag.Adopted)
// or closed are not announced again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TCP_MSG } from '../../src/abi/protocol.js';
import { TcpAccepted, TcpConnectReply, TcpListenReply } from '../../src/abi/message-args.js';
import { AppFlag, ServerFlag } from '../../src/abi/socket-block.js';
import { TcpServerRig, streamBytes } from './server-rig.js';

test('an accept that died in the TCP server\'s memory is announced by its successor, once', async () => {
  const rig = await TcpServerRig.create();
  const listener = rig.listen(8080);
  rig.sockOut.full = true; // SOCK does not read: the accept waits in the server's memory
  rig.peerConnect(8080);
  rig.exchange();
  rig.runUntil(rig.now + 100);
  assert.deepEqual(rig.acceptedSlots(), [], 'nothing reached SOCK yet');
  await rig.restart(); // ... and dies with it
  rig.sockOut.full = false;
  await rig.restart();
  const accepted = rig.sockMessages.filter((m) => m.type === TCP_MSG.ACCEPTED);
  assert.equal(accepted.length, 1, 'the successor announces the connection');
  const slot = rig.acceptedSlots()[0]!;
  assert.equal(accepted[0]!.arg(TcpAccepted.listener), listener, 'as an accept of its listener');
  // The application takes it: the connection works, and a later successor announces nothing.
  const block = rig.block(slot);
  block.appSetFlags(AppFlag.Adopted);
  assert.ok((block.serverFlags() & ServerFlag.Connected) !== 0);
  rig.appWrite(slot, streamBytes(0, 1000));
  rig.runUntil(rig.now + 500);
  assert.equal(rig.peerReceived.length, 1000);
  await rig.restart();
  assert.equal(rig.sockMessages.filter((m) => m.type === TCP_MSG.ACCEPTED).length, 1, 'an adopted socket is not announced again');
});

test('a connect reply that died in the TCP server\'s memory is sent again by its successor', async () => {
  const rig = await TcpServerRig.create();
  rig.sockOut.full = true;
  rig.sendConnect(77);
  rig.runUntil(rig.now + 100);
  assert.equal(rig.sockMessages.length, 0);
  rig.sockOut.full = false;
  await rig.restart();
  const replies = rig.sockMessages.filter((x) => x.type === TCP_MSG.CONNECT_REPLY);
  assert.equal(replies.length, 1);
  assert.equal(replies[0]!.arg(TcpConnectReply.request), 77);
  const slot = replies[0]!.argI32(TcpConnectReply.slot);
  assert.ok(slot >= 0);
  rig.runUntil(rig.now + 100);
  assert.ok((rig.block(slot).serverFlags() & ServerFlag.Connected) !== 0, 'the resumed connection is established');
});

test('a LISTEN reply that died in the TCP server\'s memory is sent again by its successor, and the listener works', async () => {
  const rig = await TcpServerRig.create();
  rig.sockOut.full = true;
  rig.sendListen(31, 8081);
  rig.runUntil(rig.now + 50);
  assert.equal(rig.sockMessages.length, 0);
  rig.sockOut.full = false;
  await rig.restart();
  const replies = rig.sockMessages.filter((x) => x.type === TCP_MSG.LISTEN_REPLY);
  assert.equal(replies.length, 1);
  assert.deepEqual([replies[0]!.arg(TcpListenReply.request), replies[0]!.arg(TcpListenReply.error), replies[0]!.arg(TcpListenReply.port)], [31, 0, 8081]);
  rig.peerConnect(8081);
  rig.exchange();
  assert.equal(rig.acceptedSlots().length, 1, 'the restored listener accepts');
  assert.equal(rig.sockMessages.filter((m) => m.type === TCP_MSG.ACCEPTED)[0]!.arg(TcpAccepted.listener), replies[0]!.arg(TcpListenReply.listener));
});
