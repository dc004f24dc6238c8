// The named argument words of every message kind (src/abi/message-args.ts): each kind of
// protocol.ts has a table, a table names distinct words inside the message, a value
// written under a name is read back under that name and nowhere else, and every writer
// a table yields (start's setter, write, send) writes exactly the words its table names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DRIVER_MSG, IP_MSG, PF_MSG, SOCK_MSG, TCP_MSG, UDP_MSG } from '../../src/abi/protocol.js';
import {
  FrameRx, messageArgs, messageKind, outgoing, packPorts, unpackPorts, sendOutgoing, TcpAccepted, TcpKick, TcpSegSend, UdpBindReply, UdpDgramSend,
} from '../../src/abi/message-args.js';
import type { OutChannel } from '../../src/substrate/channel.js';
import { MessageView, MSG_ARGS, MSG_WORDS, NO_POOL } from '../../src/substrate/message.js';
import { MSG_ARG0, MSG_LENGTH, MSG_OFFSET, MSG_POOL, MSG_SEQ, MSG_TYPE } from '../../src/substrate/layout.js';

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

/** A channel of `slots` slots that keeps what is committed. */
function recordingOut(slots = Infinity): OutChannel & { readonly sent: MessageView[] } {
  const sent: MessageView[] = [];
  let staged: MessageView | null = null;
  return {
    name: 'test', peer: 'peer', sent,
    reserve() { if (sent.length >= slots) return null; staged = new MessageView(new Int32Array(MSG_WORDS).fill(-7)); return staged; },
    commit() { sent.push(staged!); staged = null; },
    freeSlots() { return slots - sent.length; },
    get pending() { return 0; },
  };
}

/** Checks `m` holds `type`, `seq`, each named field's value and 0 in every word the table does not name. */
function assertWritten(name: string, m: MessageView, type: number, seq: number, fields: Readonly<Record<string, number>>, value: (i: number) => number): void {
  assert.equal(m.type, type, `${name}: type`);
  assert.equal(m.flags, 0, `${name}: flags`);
  assert.equal(m.seq, seq, `${name}: seq`);
  const named = Object.values(fields);
  Object.entries(fields).forEach(([field, w], i) => assert.equal(m.argI32(w), value(i), `${name}.${field}`));
  for (let w = 0; w < MSG_ARGS; w++) if (!named.includes(w)) assert.equal(m.arg(w), 0, `${name}: unnamed word ${w} not 0`);
}

test('every kind\'s writers write exactly the words its table names (write → read by name)', () => {
  for (const { name, type } of KINDS) {
    const kind = messageKind(type);
    assert.ok(kind !== undefined, `${name} has no writers`);
    assert.equal(kind.type, type, name);
    const fields = messageArgs(type)!;
    const entries = Object.entries(fields);
    const value = (i: number): number => (0x51 + i) * 0x01010101 | 0;
    // Every word starts as garbage, as in a reused ring slot.
    const garbage = (): MessageView => new MessageView(new Int32Array(MSG_WORDS).fill(0x5a5a5a5a));

    // start + the setter, one named method per field
    const a = garbage().setPointer(3, 4, 100, 60);
    const setter = kind.start(a, 9);
    assert.deepEqual(Object.keys(setter).sort(), Object.keys(fields).sort(), `${name}: setter names`);
    entries.forEach(([field], i) => { assert.equal(setter[field]!(value(i)), setter, `${name}.${field} chains`); });
    assertWritten(name, a, type, 9, fields, value);
    assert.deepEqual([a.pool, a.poolGen, a.offset, a.length], [3, 4, 100, 60], `${name}: start keeps the pointer`);

    // write from named values
    const values = Object.fromEntries(entries.map(([field], i) => [field, value(i)]));
    const b = garbage();
    assert.equal(kind.write(b, values, 7), b);
    assertWritten(name, b, type, 7, fields, value);

    // send: reserve, write, no buffer, commit
    const out = recordingOut();
    assert.equal(kind.send(out, values), true);
    assert.equal(out.sent.length, 1);
    assertWritten(name, out.sent[0]!, type, 0, fields, value);
    assert.equal(out.sent[0]!.hasBuffer, false, `${name}: send clears the pointer`);
    assert.deepEqual([out.sent[0]!.offset, out.sent[0]!.length], [0, 0]);
    assert.equal(kind.send(recordingOut(0), values), false, `${name}: full channel`);
  }
});

test('the wire layout is unchanged: named writers put the words where the positional ones did', () => {
  const m = new MessageView(new Int32Array(MSG_WORDS));
  FrameRx.start(m).iface(1).rxQueue(2).rxFlags(3).rssHash(4).gsoSize(5);
  assert.deepEqual([...m.words.subarray(MSG_ARG0)], [1, 2, 3, 4, 5, 0]);
  TcpAccepted.write(m, { listener: 1, slot: 2, remoteAddr: 3, localAddr: 4, ports: 5, generation: 6 });
  assert.deepEqual([...m.words.subarray(MSG_ARG0)], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(unpackPorts(packPorts(65535, 80)), { remotePort: 65535, localPort: 80 });
  assert.equal(packPorts(65535, 65535), 0xffffffff);
  UdpBindReply.write(m, { request: 9, slot: -1, error: 3, port: 0, address: 0 });
  assert.deepEqual([...m.words.subarray(MSG_ARG0)], [9, -1, 3, 0, 0, 0]);
  assert.equal(m.argI32(UdpBindReply.slot), -1);
  assert.deepEqual([MSG_TYPE, MSG_SEQ, MSG_POOL, MSG_OFFSET, MSG_LENGTH, MSG_ARG0], [0, 2, 3, 4, 5, 6]);
  assert.equal(NO_POOL, 0xffff);
});

test('a kept message (outgoing) is sent later with its kind\'s names', () => {
  const out = recordingOut();
  const o = outgoing(TcpKick, { slot: 12 });
  assert.equal(sendOutgoing(out, o), true);
  assert.equal(out.sent[0]!.type, TcpKick.type);
  assert.equal(out.sent[0]!.arg(TcpKick.slot), 12);
  assert.equal(sendOutgoing(recordingOut(0), o), false);
});

test('the compiler checks field names and counts (the lines below must not compile; never run)', () => {
  const wrong = (m: MessageView): void => {
    // @ts-expect-error a field missing
    TcpKick.write(m, {});
    // @ts-expect-error a field the table does not have
    TcpKick.write(m, { slot: 1, socket: 2 });
    // @ts-expect-error a setter the table does not have
    TcpKick.start(m).socket(1);
    // @ts-expect-error values of another kind
    outgoing(TcpKick, { listener: 1 });
  };
  assert.equal(typeof wrong, 'function');
});
