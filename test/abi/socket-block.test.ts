// The fast-socket block's wake-up words, in one thread: who kicks whom, and how often.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SocketBlock } from '../../src/abi/socket-block.js';

function block(): SocketBlock {
  const b = new SocketBlock(new SharedArrayBuffer(SocketBlock.bytesNeeded(4096, 4096)), 0, 4096, 4096);
  b.reset();
  return b;
}

test('socket block: one receive kick per arming — reads after the kick do not kick again until the server re-arms', () => {
  const b = block();
  const fill = (n: number): void => { assert.equal(b.recv.write(new Uint8Array(n)), n); };
  fill(3000);
  const dst = new Uint8Array(100);
  // Not armed: reads never kick.
  assert.equal(b.appRead(dst).kick, false);
  b.serverArmRx();
  assert.equal(b.serverRxArmed(), true);
  assert.equal(b.appRead(dst).kick, true, 'the first read after arming kicks');
  assert.equal(b.serverRxArmed(), false, 'and takes the arming back');
  assert.equal(b.appRead(dst).kick, false);
  assert.equal(b.appRead(dst).kick, false);
  b.serverArmRx();
  assert.equal(b.appRead(dst).kick, true, 'armed again: kicks again');
  // A read that finds nothing neither kicks nor consumes the arming.
  const empty = block();
  empty.serverArmRx();
  assert.equal(empty.appRead(dst).kick, false);
  assert.equal(empty.serverRxArmed(), true);
  assert.equal(b.opStats().appWakeMessages, 2);
});
