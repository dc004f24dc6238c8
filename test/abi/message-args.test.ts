// The named argument words of every message kind (src/abi/message-args.ts): each kind of
// protocol.ts has a table, a table names distinct words inside the message, and a value
// written under a name is read back under that name and nowhere else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DRIVER_MSG, IP_MSG, PF_MSG, SOCK_MSG, TCP_MSG, UDP_MSG } from '../../src/abi/protocol.js';
import { messageArgs, TcpSegSend, UdpDgramSend } from '../../src/abi/message-args.js';
import { MessageView, MSG_ARGS, MSG_WORDS } from '../../src/substrate/message.js';

const KINDS = Object.entries({ DRIVER_MSG, IP_MSG, PF_MSG, TCP_MSG, UDP_MSG, SOCK_MSG })
  .flatMap(([block, kinds]) => Object.entries(kinds).map(([name, type]) => ({ name: `${block}.${name}`, type })));

test('every message kind has a table of named words, distinct and inside the message', () => {
  assert.ok(KINDS.length >= 30);
  for (const { name, type } of KINDS) {
    const fields = messageArgs(type);
    assert.ok(fields !== undefined, `${name} has no table`);
    const words = Object.values(fields);
    assert.ok(words.length > 0, name);
    assert.equal(new Set(words).size, words.length, `${name}: a word named twice`);
    for (const w of words) assert.ok(Number.isInteger(w) && w >= 0 && w < MSG_ARGS, `${name}: word ${w}`);
    assert.ok(Object.isFrozen(fields), name);
  }
});

test('a value written under a name is read back under it, and no other word changes', () => {
  const words = new Int32Array(MSG_WORDS);
  const view = new MessageView(words, 0);
  for (const { name, type } of KINDS) {
    const fields = messageArgs(type)!;
    words.fill(0);
    view.set(type, 1, 0);
    const entries = Object.entries(fields);
    entries.forEach(([, w], i) => view.setArg(w, 0x1000 + i));
    entries.forEach(([field, w], i) => assert.equal(view.arg(w), 0x1000 + i, `${name}.${field}`));
    for (let w = 0; w < MSG_ARGS; w++) {
      if (!Object.values(fields).includes(w)) assert.equal(view.arg(w), 0, `${name}: unnamed word ${w} written`);
    }
  }
});

test("IP reads TCP's SEG_SEND and UDP's DGRAM_SEND with one table: their shared words agree", () => {
  for (const f of ['src', 'dst', 'txFlags'] as const) assert.equal(UdpDgramSend[f], TcpSegSend[f], f);
});
