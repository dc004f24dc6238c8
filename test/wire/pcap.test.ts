import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LINKTYPE_ETHERNET, PcapWriter, readPcap } from '../../src/wire/pcap.js';
import { allCapturedFrames, capturedFrame } from '../fixtures/frames.js';

function hasTshark(): boolean {
  try { execFileSync('tshark', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; }
}

test('reads the pcap tcpdump wrote during fixture capture; frames equal the hex fixtures', () => {
  const bytes = new Uint8Array(readFileSync(new URL('../../../test/fixtures/linux-capture.pcap', import.meta.url)));
  const r = readPcap(bytes);
  assert.ok(r.ok);
  assert.equal(r.value.linktype, LINKTYPE_ETHERNET);
  const fixtures = allCapturedFrames();
  assert.equal(r.value.records.length, fixtures.length);
  r.value.records.forEach((rec, i) => assert.deepEqual(rec.data, fixtures[i]));
  for (let i = 1; i < r.value.records.length; i++) {
    assert.ok(r.value.records[i]!.timestampMicros >= r.value.records[i - 1]!.timestampMicros);
  }
});

test('writer/reader round trip keeps timestamps (µs) and snaplen truncation', () => {
  const w = new PcapWriter(100);
  const big = new Uint8Array(300).fill(7);
  w.write(capturedFrame('Who has'), 1_700_000_000_000_001);
  w.write(big, 1_700_000_001_999_999);
  const r = readPcap(w.bytes());
  assert.ok(r.ok);
  assert.equal(r.value.snaplen, 100);
  assert.equal(r.value.nanosecond, false);
  assert.deepEqual(r.value.records.map((x) => [x.timestampMicros, x.origLen, x.data.length]),
    [[1_700_000_000_000_001, 42, 42], [1_700_000_001_999_999, 300, 100]]);
});

test('reader reports bad input by name', () => {
  assert.equal((r => !r.ok && r.reason)(readPcap(new Uint8Array(10))), 'truncated-header');
  assert.equal((r => !r.ok && r.reason)(readPcap(new Uint8Array(24))), 'bad-magic');
  const w = new PcapWriter();
  w.write(new Uint8Array(50), 0);
  const b = w.bytes();
  assert.equal((r => !r.ok && r.reason)(readPcap(b.subarray(0, b.length - 1))), 'truncated-record');
  assert.equal((r => !r.ok && r.reason)(readPcap(b.subarray(0, 30))), 'truncated-record');
});

test('tshark decodes a file we wrote: times, MACs, VLAN, ARP, IPv4, UDP, ICMP', { skip: !hasTshark() && 'tshark not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'newtos-pcap-'));
  try {
    const w = new PcapWriter();
    w.write(capturedFrame('Who has 10.99.0.2'), 1_700_000_000_123_456);
    w.write(capturedFrame('40000 \u2192 9999'), 1_700_000_000_223_456);
    w.write(capturedFrame('Echo (ping) request  id=0x1234'), 1_700_000_001_000_001);
    w.write(capturedFrame('Destination unreachable (Fragmentation needed)'), 1_700_000_002_000_000);
    const file = join(dir, 'out.pcap');
    writeFileSync(file, w.bytes());
    const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|',
      '-e', 'frame.time_epoch', '-e', 'eth.src', '-e', 'vlan.id', '-e', 'arp.dst.proto_ipv4', '-e', 'ip.src', '-e', 'ip.dst',
      '-e', 'udp.dstport', '-e', 'icmp.type', '-e', 'icmp.mtu'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const rows = out.trim().split('\n').map((l) => l.split('|'));
    assert.equal(rows.length, 4);
    assert.match(rows[0]![0]!, /^1700000000\.123456/);
    assert.equal(rows[0]![1], '02:00:00:00:00:0a');
    assert.equal(rows[0]![3], '10.99.0.2');
    assert.match(rows[1]![0]!, /^1700000000\.223456/);
    assert.deepEqual([rows[1]![4], rows[1]![5], rows[1]![6]], ['10.99.0.1', '10.99.0.2', '9999']);
    assert.deepEqual([rows[2]![2], rows[2]![7]], ['100', '8']);
    assert.match(rows[2]![0]!, /^1700000001\.000001/);
    assert.equal(rows[3]![7]!.split(',')[0], '3');
    assert.equal(rows[3]![8], '1000');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
