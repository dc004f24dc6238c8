// pcap capture on a running backend: switched on and off, direction filter,
// frame cap, and a file tshark reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapCapture } from '../../../src/driver/nic/capture.js';
import { UdpLink } from '../../../src/driver/nic/udp-link.js';
import { readPcap } from '../../../src/wire/pcap.js';
import { receiveFrames, testFrame, transmitFrames } from '../../support/links.js';

const MAC_A = Uint8Array.from([0x02, 0, 0, 0, 1, 0x0a]);
const MAC_B = Uint8Array.from([0x02, 0, 0, 0, 1, 0x0b]);

async function pair(t: { after: (fn: () => unknown) => void }): Promise<[UdpLink, UdpLink]> {
  const a = await UdpLink.open({ local: { address: '127.0.0.1', port: 0 }, mac: MAC_A });
  const b = await UdpLink.open({ local: { address: '127.0.0.1', port: 0 }, remote: a.localEndpoint(), mac: MAC_B });
  t.after(async () => { await a.close(); await b.close(); });
  return [a, b];
}

test('capture: records rx and tx while attached, nothing after detach', async (t) => {
  const [a, b] = await pair(t);
  const { capture, bytes } = PcapCapture.inMemory({ flushFrames: 3 });
  const before = Date.now();
  capture.attach(a);
  const toA = [testFrame(MAC_B, 1, 80), testFrame(MAC_B, 2, 90)];
  await transmitFrames(b, toA);
  await receiveFrames(a, 2);
  const fromA = [testFrame(MAC_A, 3, 70)];
  await transmitFrames(a, fromA);
  await receiveFrames(b, 1);
  capture.detach(a);
  await transmitFrames(b, [testFrame(MAC_B, 4)]);
  await receiveFrames(a, 1);
  const file = readPcap(bytes());
  assert.ok(file.ok);
  assert.equal(file.value.linktype, 1);
  assert.deepEqual(file.value.records.map((r) => [...r.data]), [...toA, ...fromA].map((f) => [...f]));
  for (const r of file.value.records) {
    assert.ok(r.timestampMicros >= before * 1000 - 1000 && r.timestampMicros <= Date.now() * 1000 + 1000);
  }
  assert.equal(capture.frames, 3);
});

test('capture: direction filter, snaplen and frame cap', async (t) => {
  const [a, b] = await pair(t);
  const { capture, bytes } = PcapCapture.inMemory({ direction: 'rx', snaplen: 40, maxFrames: 2 });
  capture.attach(a);
  await transmitFrames(b, [testFrame(MAC_B, 1, 100), testFrame(MAC_B, 2, 100), testFrame(MAC_B, 3, 100)]);
  await receiveFrames(a, 3);
  await transmitFrames(a, [testFrame(MAC_A, 4)]);
  capture.close();
  const file = readPcap(bytes());
  assert.ok(file.ok);
  assert.equal(file.value.records.length, 2);
  assert.deepEqual(file.value.records.map((r) => [r.data.length, r.origLen]), [[40, 100], [40, 100]]);
  assert.equal(capture.missed, 1);
});

test('capture: a file written while running decodes with tshark', async (t) => {
  const tshark = spawnSync('tshark', ['-v'], { encoding: 'utf8' });
  if (tshark.error || tshark.status !== 0) { t.skip('tshark not installed'); return; }
  const dir = mkdtempSync(join(tmpdir(), 'newtos-capture-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'link.pcap');
  const [a, b] = await pair(t);
  const capture = PcapCapture.toFile(path);
  capture.attach(b);
  const frames = Array.from({ length: 5 }, (_, i) => testFrame(MAC_B, i, 60 + i));
  await transmitFrames(b, frames);
  await receiveFrames(a, 5);
  capture.close();
  assert.ok(readFileSync(path).length > 24);
  const out = spawnSync('tshark', ['-r', path, '-T', 'fields', '-e', 'eth.src', '-e', 'eth.type', '-e', 'frame.len'], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const rows = out.stdout.trim().split('\n');
  assert.deepEqual(rows, frames.map((f) => `02:00:00:00:01:0b\t0x88b5\t${f.length}`));
});
