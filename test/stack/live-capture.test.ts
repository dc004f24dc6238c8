// Live capture of a running host's interface (stack.capture): switched on and
// off at run time through shared memory; the driver's frame hook copies frames
// into a ring the application drains; read back as pcap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../../src/stack/host.js';
import { PcapWriter, readPcap } from '../../src/wire/pcap.js';
import type { FrameDirection } from '../../src/driver/nic/backend.js';

interface Frame { dir: FrameDirection; bytes: Uint8Array; length: number }

/** IPv4 protocol and ICMP type of an Ethernet frame, or undefined. */
function icmpType(f: Uint8Array): number | undefined {
  if (f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== 1) return undefined;
  return f[14 + (f[14]! & 0x0f) * 4];
}

function tcpFlags(f: Uint8Array): number | undefined {
  if (f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== 6) return undefined;
  return f[14 + (f[14]! & 0x0f) * 4 + 13];
}

test('stack.capture: frames of a ping and a TCP exchange, only while switched on, written as pcap', { timeout: 60_000 }, async (t) => {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const host = (ip: string): Promise<Stack> => createStack({
    interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
  }, { switches: { sw0: sw } });
  const a = await host('10.8.0.1/24');
  t.after(() => a.close());
  const b = await host('10.8.0.2/24');
  t.after(() => b.close());

  // Before any capture: traffic flows, nothing is recorded anywhere.
  assert.equal((await b.ping('10.8.0.1', { count: 1, intervalMs: 0 })).received, 1);

  const frames: Frame[] = [];
  const capture = await a.capture('eth0', (dir, bytes, length) => frames.push({ dir, bytes, length }), { snaplen: 100 });
  await assert.rejects(a.capture('eth0', () => {}), (e: Error & { code?: string }) => e.code === 'EBUSY');
  await assert.rejects(a.capture('eth9', () => {}), /no interface 'eth9'/);

  assert.equal((await b.ping('10.8.0.1', { count: 2, intervalMs: 0, size: 1000 })).received, 2);
  const server = a.net.createServer((s) => s.end('hello from a\n'));
  await new Promise<void>((resolve) => server.listen(7070, resolve));
  t.after(() => server.close());
  const reply = await new Promise<string>((resolve, reject) => {
    const c = b.net.connect({ port: 7070, host: '10.8.0.1' });
    let text = '';
    c.on('error', reject);
    c.on('data', (d: Buffer) => { text += d.toString(); });
    c.on('end', () => { c.end(); resolve(text); });
  });
  assert.equal(reply, 'hello from a\n');
  await sleep(100);
  await capture.stop();
  const captured = frames.length;

  // What a sees: echo requests in, replies out (1028-byte frames cut to the snaplen), the TCP handshake.
  const requests = frames.filter((f) => f.dir === 'rx' && icmpType(f.bytes) === 8);
  const replies = frames.filter((f) => f.dir === 'tx' && icmpType(f.bytes) === 0);
  assert.equal(requests.length, 2);
  assert.equal(replies.length, 2);
  assert.ok(requests.every((f) => f.bytes.length === 100 && f.length === 14 + 20 + 8 + 1000));
  assert.ok(frames.some((f) => f.dir === 'rx' && tcpFlags(f.bytes) === 0x02), 'SYN in');
  assert.ok(frames.some((f) => f.dir === 'tx' && tcpFlags(f.bytes) === 0x12), 'SYN-ACK out');
  assert.equal(capture.dropped, 0);

  // Switched off: more traffic, nothing more recorded.
  assert.equal((await b.ping('10.8.0.1', { count: 2, intervalMs: 0 })).received, 2);
  await sleep(50);
  assert.equal(frames.length, captured);

  // And on again (a new session on the same interface).
  const again: Frame[] = [];
  const second = await a.capture('eth0', (dir, bytes, length) => again.push({ dir, bytes, length }));
  assert.equal((await b.ping('10.8.0.1', { count: 1, intervalMs: 0 })).received, 1);
  await sleep(50);
  await second.stop();
  assert.ok(again.some((f) => icmpType(f.bytes) === 8));

  // As a pcap file, read back.
  const w = new PcapWriter(100);
  for (const f of frames) w.write(f.bytes, 0, f.length);
  const file = readPcap(w.bytes());
  assert.ok(file.ok);
  assert.equal(file.value.records.length, captured);
  assert.equal(file.value.records.find((r) => icmpType(r.data) === 8)!.origLen, 1042);
});
