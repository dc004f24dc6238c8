// A soak (issue 13): random and mutated Ethernet frames at a high rate into a running
// host on the virtual switch (from a third port, addressed to the host's MAC and IP most
// of the time so that they get past the driver and IP's first checks), while 4 MB cross
// each way between it and another host. The transfers must arrive intact and no server
// may die; a death fails the test and prints the frames sent just before it (hex), to
// become a test of its own once fixed. Bounded: NEWTOS_SOAK_SECONDS (default 3) of frames.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVswitch, VswitchPort } from '../../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../../src/stack/host.js';
import type { SupervisorEvent } from '../../src/substrate/supervisor.js';
import { internetChecksum } from '../../src/wire/checksum.js';
import { Mutator } from '../fuzz/mutator.js';
import { Stream, listenOn, connectTo, streamData } from '../support/tcp-stream.js';

const SIZE = 4 * 1024 * 1024;
const SECONDS = Number(process.env['NEWTOS_SOAK_SECONDS'] ?? 3);
const A_MAC = Uint8Array.from([0x02, 0, 0, 0, 0, 0x01]);
const A_IP = [10, 0, 0, 1];
const BATCH = 64;

/** Points a frame at host a (MAC, and IPv4 destination with the header checksum made good). */
function aimAtA(f: Uint8Array, m: Mutator): Uint8Array {
  if (f.length < 14) return f;
  f.set(A_MAC, 0);
  if (m.int(4) !== 0 && f.length >= 34 && f[12] === 0x08 && f[13] === 0x00) {
    f.set(A_IP, 30);
    const hl = (f[14]! & 0x0f) * 4;
    if (hl >= 20 && 14 + hl <= f.length) {
      f[24] = 0; f[25] = 0;
      const ck = internetChecksum(f, 14, 14 + hl);
      f[24] = ck >>> 8; f[25] = ck;
    }
  }
  return f;
}

const hex = (f: Uint8Array): string => Buffer.from(f).toString('hex');

test(`soak: ${SECONDS} s of random and mutated frames into a host while 4 MB cross each way: intact, no server dies`, { timeout: 120_000 + SECONDS * 2000 }, async (t) => {
  const sw = { descriptor: createVswitch({ ports: 3 }), nextPort: 0 };
  const host = (name: string, ip: string, mac?: string): Promise<Stack> => createStack({
    name, interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip], ...(mac ? { mac } : {}) }],
  }, { switches: { sw0: sw } });
  const a = await host('a', '10.0.0.1/24', '02:00:00:00:00:01');
  const b = await host('b', '10.0.0.2/24');
  const port = new VswitchPort(sw.descriptor, 2, { mac: Uint8Array.from([0x02, 0, 0, 0, 0, 0x99]) });
  try {
    // Every death of a server of either host, with the frames sent just before it.
    const recent: Uint8Array[] = [];
    const deaths: string[] = [];
    for (const s of [a, b]) {
      s.supervisor.on('event', (e: SupervisorEvent) => {
        if (!['crash', 'hang', 'exit', 'oom'].includes(e.type)) return;
        deaths.push(`${s.config.name}/${e.server} ${e.type} ${JSON.stringify(e.detail)}; the last ${recent.length} frames sent before it:\n${recent.map(hex).join('\n')}`);
      });
    }
    const toB = streamData(SIZE);
    const toA = streamData(SIZE);
    const accepted = listenOn(a, 9);
    const bSide = new Stream(await connectTo(b, '10.0.0.1', 9), SIZE);
    const aSide = new Stream(await accepted, SIZE);
    aSide.send(toB.bytes);
    bSide.send(toA.bytes);

    const m = new Mutator(Number(process.env['NEWTOS_SOAK_SEED'] ?? 1));
    const slotSize = 2048;
    const memory = new Uint8Array(slotSize * BATCH);
    const slots = {
      memory, capacity: slotSize,
      offsets: Uint32Array.from({ length: BATCH }, (_, i) => i * slotSize),
      lengths: new Uint32Array(BATCH),
    };
    let sent = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < SECONDS * 1000 && deaths.length === 0) {
      for (let i = 0; i < BATCH; i++) {
        let f = m.next();
        if (m.int(4) !== 0) f = aimAtA(f, m);
        if (f.length > slotSize) f = f.subarray(0, slotSize);
        memory.set(f, i * slotSize);
        slots.lengths[i] = f.length;
        recent.push(f);
        if (recent.length > 32) recent.shift();
      }
      sent += port.transmit(slots, BATCH);
      await new Promise((r) => setImmediate(r));
    }
    const soakMs = performance.now() - t0;
    const during = [aSide, bSide].map((s) => s.arrivals.filter((x) => x < t0 + soakMs).length);
    const [gotA, gotB] = await Promise.all([aSide.within(60_000), bSide.within(60_000)]);
    t.diagnostic(`${sent} frames in ${(soakMs / 1000).toFixed(1)} s into host a (${Math.round(sent / (soakMs / 1000))}/s), ${during.join(' + ')} chunks of the transfers arrived meanwhile; tcp drops at a ${JSON.stringify(a.counters().tcp['drops'] ?? {})}; a's IP counted ${JSON.stringify(a.counters().ip['drops'] ?? {})}`);
    assert.deepEqual(deaths, [], 'no server died');
    assert.equal(gotA.sha256, toA.sha256, 'b → a intact');
    assert.equal(gotB.sha256, toB.sha256, 'a → b intact');
    for (const s of [aSide, bSide]) assert.deepEqual(s.events, [], 'no error or close seen by an application');
    assert.ok(sent > 0);
  } finally {
    port.close?.();
    await b.close();
    await a.close();
  }
});
