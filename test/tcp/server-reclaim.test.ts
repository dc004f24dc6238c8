// Out of socket slots, a CONNECT that reaches the TCP server before the kick of a close the
// application has already made (the CONNECT goes through SOCK, the kick straight to TCP, and a
// batch may read SOCK's ring first) must get the closed socket's slot, not ENOBUFS: the server
// acts on the Close flag in the block as the kick would. Here the closed socket is in TIME-WAIT
// (we closed first), whose slot the application's close gives back at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TCP_MSG } from '../../src/abi/protocol.js';
import { TcpConnectReply } from '../../src/abi/message-args.js';
import { AppFlag, ServerFlag } from '../../src/abi/socket-block.js';
import { TcpServerRig } from './server-rig.js';

test('out of slots, a CONNECT that comes before the close kick of a TIME-WAIT socket gets its slot', async () => {
  const rig = await TcpServerRig.create({ slots: 1 });
  const slot = rig.connect();
  rig.exchange();
  const block = rig.block(slot);
  assert.ok((block.serverFlags() & ServerFlag.Connected) !== 0);
  block.appSetFlags(AppFlag.Adopted);
  // We end first; the peer ends too: our side is in TIME-WAIT.
  block.appSetFlags(AppFlag.ShutWr);
  rig.kick(slot);
  rig.exchange();
  rig.peer.close(rig.peerConn, rig.now);
  rig.exchange();
  rig.runUntil(rig.now + 50);
  assert.ok((block.serverFlags() & ServerFlag.PeerFin) !== 0, 'the peer\'s FIN came');
  assert.throws(() => rig.peer.info(rig.peerConn), /no connection/, 'the peer is closed: our FIN went and our ACK of its FIN (we are in TIME-WAIT)');
  // The application closes the socket; its kick is still on its way when the next CONNECT comes.
  block.appSetFlags(AppFlag.Close);
  rig.sendConnect(42);
  const reply = rig.sockMessages.find((m) => m.type === TCP_MSG.CONNECT_REPLY && m.arg(TcpConnectReply.request) === 42);
  assert.ok(reply !== undefined);
  assert.equal(reply.argI32(TcpConnectReply.error), 0, 'not ENOBUFS');
  assert.equal(reply.argI32(TcpConnectReply.slot), slot, 'the closed socket\'s slot');
});
