/**
 * NIC backend throughput: `npm run bench:nic [-- --json] [-- --seconds N]`.
 *
 * - TAP (root): the benchmark writes ICMP echo requests into a TAP device whose
 *   far side is a network namespace, and the kernel answers each with an echo
 *   reply that the benchmark reads back: frames/s written and read through the
 *   addon's batched calls, with the Linux IP stack doing real work per frame.
 *   Frames of 98 bytes (ping's default size) and of 1514 bytes.
 * - UDP link: frames/s between two newtos UDP links on loopback (node:dgram).
 * - Virtual switch: two worker threads, one sending numbered frames, one
 *   echoing them back in place from its packet pool; frames/s and Gbit/s
 *   crossing the switch (both directions counted), MTU 1500 and 65535.
 * - RSS: frames/s steered by the software Toeplitz hash.
 *
 * A figure that could not be measured (no root, no addon) is null.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { internetChecksum } from '../src/wire/checksum.js';
import { contiguousSlots, formatMac, type FrameSlots } from '../src/driver/nic/backend.js';
import { RssSteering } from '../src/driver/nic/rss.js';
import { TapBackend } from '../src/driver/nic/tap.js';
import { UdpLink } from '../src/driver/nic/udp-link.js';
import { Worker } from 'node:worker_threads';
import { createVswitch } from '../src/driver/nic/vswitch.js';
import { Rig, rigUnavailableReason } from '../test/support/netns.js';
import type { VswitchWorkerData, VswitchWorkerResult } from '../test/driver/nic/vswitch-worker.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const secondsArg = args.indexOf('--seconds');
const seconds = secondsArg >= 0 ? Number(args[secondsArg + 1]) : 2;

const OUR_MAC = Uint8Array.from([0x02, 0x62, 0x65, 0x6e, 0x63, 0x68]);

function ip(s: string): number {
  return s.split('.').reduce((a, o) => a * 256 + Number(o), 0) >>> 0;
}

/** An Ethernet + IPv4 + ICMP echo request of `frameLen` bytes. */
function echoRequest(dstMac: Uint8Array, src: number, dst: number, frameLen: number, seq: number): Uint8Array {
  const f = new Uint8Array(frameLen);
  const v = new DataView(f.buffer);
  f.set(dstMac, 0); f.set(OUR_MAC, 6); v.setUint16(12, 0x0800);
  const ipLen = frameLen - 14;
  f[14] = 0x45; v.setUint16(16, ipLen); v.setUint16(18, seq & 0xffff); f[22] = 64; f[23] = 1;
  v.setUint32(26, src); v.setUint32(30, dst);
  v.setUint16(24, internetChecksum(f, 14, 34));
  f[34] = 8; v.setUint16(38, 0x4242); v.setUint16(40, seq & 0xffff);
  for (let i = 42; i < frameLen; i++) f[i] = i & 0xff;
  v.setUint16(36, internetChecksum(f, 34, frameLen));
  return f;
}

interface TapFigures { written_fps: number; read_fps: number; read_gbps: number }

async function benchTap(frameLen: number): Promise<TapFigures | null> {
  if (rigUnavailableReason() !== '') return null;
  const rig = new Rig();
  let tap: TapBackend | undefined;
  try {
    tap = TapBackend.open({ name: rig.linkName('ntos'), mac: OUR_MAC });
    rig.adoptRootLink(tap.name);
    const ns = await rig.netns();
    await rig.moveLink(tap.name, ns);
    await rig.addr(ns, tap.name, '10.210.0.1/24');
    await rig.up(ns, tap.name, 'txqueuelen', '10000');
    await rig.ip(ns, 'neigh', 'add', '10.210.0.2', 'lladdr', formatMac(OUR_MAC), 'dev', tap.name);
    const link = await rig.ip(ns, '-o', 'link', 'show', tap.name);
    const kernelMac = Uint8Array.from(/link\/ether ([0-9a-f:]{17})/.exec(link.stdout)![1]!.split(':').map((h) => parseInt(h, 16)));
    // Let IPv6 autoconfiguration chatter pass before measuring.
    await new Promise((r) => setTimeout(r, 200));

    const batch = 64;
    const stride = 2048;
    const tx: FrameSlots = contiguousSlots(new Uint8Array(new SharedArrayBuffer(batch * stride)), batch, stride);
    for (let i = 0; i < batch; i++) {
      tx.memory.set(echoRequest(kernelMac, ip('10.210.0.2'), ip('10.210.0.1'), frameLen, i), tx.offsets[i]!);
      tx.lengths[i] = frameLen;
    }
    const rx: FrameSlots = contiguousSlots(new Uint8Array(new SharedArrayBuffer(256 * stride)), 256, stride);
    let written = 0;
    let read = 0;
    let readBytes = 0;
    const start = performance.now();
    const end = start + seconds * 1000;
    let now = start;
    let iterations = 0;
    while (now < end) {
      // Keep at most 4 batches outstanding so the tap queue never overflows.
      if (written - read <= 3 * batch) written += tap.transmit(tx, batch);
      const n = tap.receive(rx, 256);
      for (let i = 0; i < n; i++) readBytes += rx.lengths[i]!;
      read += n;
      if (n === 0 && written === read) tap.waitReadable(1);
      if ((++iterations & 1023) === 0) now = performance.now();
    }
    const elapsed = (performance.now() - start) / 1000;
    return { written_fps: written / elapsed, read_fps: read / elapsed, read_gbps: (readBytes * 8) / elapsed / 1e9 };
  } finally {
    await tap?.close();
    rig.cleanup();
  }
}

async function benchUdp(frameLen: number): Promise<number> {
  const a = await UdpLink.open({ local: { address: '127.0.0.1', port: 0 } });
  const b = await UdpLink.open({ local: { address: '127.0.0.1', port: 0 }, remote: a.localEndpoint(), rxQueueFrames: 8192 });
  try {
    const batch = 64;
    const tx = contiguousSlots(new Uint8Array(batch * 2048), batch, 2048);
    for (let i = 0; i < batch; i++) { tx.memory.fill(i, tx.offsets[i]!, tx.offsets[i]! + frameLen); tx.lengths[i] = frameLen; }
    const rx = contiguousSlots(new Uint8Array(new SharedArrayBuffer(256 * 2048)), 256, 2048);
    let received = 0;
    let sent = 0;
    const start = performance.now();
    const end = start + seconds * 1000;
    while (performance.now() < end) {
      if (sent - received < 1024) sent += b.transmit(tx, batch);
      received += a.receive(rx, 256);
      await yieldToLoop();
    }
    const elapsed = (performance.now() - start) / 1000;
    return received / elapsed;
  } finally {
    await a.close();
    await b.close();
  }
}

function runWorker(data: VswitchWorkerData): Promise<VswitchWorkerResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('../test/driver/nic/vswitch-worker.js', import.meta.url), { workerData: data });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

async function benchVswitch(mtu: number, frames: number): Promise<{ fps: number; gbps: number }> {
  const descriptor = createVswitch({ ports: 2, mtu });
  const frameLen = mtu + 14;
  const a = [0x02, 0, 0, 0, 0, 1];
  const b = [0x02, 0, 0, 0, 0, 2];
  const [source] = await Promise.all([
    runWorker({ role: 'source', descriptor, port: 0, mac: a, peerMac: b, frames, frameLen }),
    runWorker({ role: 'echo', descriptor, port: 1, mac: b, peerMac: a, frames, frameLen }),
  ]);
  if (!source.inOrder || !source.contentOk || source.received !== frames) throw new Error('vswitch bench: frames lost or damaged');
  const crossings = 2 * frames;
  return { fps: crossings / (source.elapsedMs / 1000), gbps: (crossings * frameLen * 8) / (source.elapsedMs / 1000) / 1e9 };
}

function benchRss(): number {
  const rss = new RssSteering({ queues: 4 });
  const frame = echoRequest(OUR_MAC, ip('10.0.0.1'), ip('10.0.0.2'), 64, 1);
  frame[23] = 6; // pretend TCP: the 4-tuple path
  const v = new DataView(frame.buffer);
  let sink = 0;
  const n = 2_000_000;
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    v.setUint16(34, i & 0xffff);
    sink += rss.steer(frame).queue;
  }
  const elapsed = (performance.now() - start) / 1000;
  if (sink < 0) console.log(sink);
  return n / elapsed;
}

async function main(): Promise<void> {
  const tapSmall = await benchTap(98);
  const tapLarge = await benchTap(1514);
  const udpSmall = await benchUdp(98);
  const udpLarge = await benchUdp(1514);
  const vs1500 = await benchVswitch(1500, Math.round(100_000 * seconds));
  const vs64k = await benchVswitch(65535, Math.round(5_000 * seconds));
  const rss = benchRss();
  const result = {
    seconds,
    tap_98B_written_fps: tapSmall?.written_fps ?? null,
    tap_98B_read_fps: tapSmall?.read_fps ?? null,
    tap_1514B_read_fps: tapLarge?.read_fps ?? null,
    tap_1514B_read_gbps: tapLarge?.read_gbps ?? null,
    udp_link_98B_fps: udpSmall,
    udp_link_1514B_fps: udpLarge,
    vswitch_mtu1500_fps: vs1500.fps,
    vswitch_mtu1500_gbps: vs1500.gbps,
    vswitch_mtu65535_fps: vs64k.fps,
    vswitch_mtu65535_gbps: vs64k.gbps,
    rss_steer_fps: rss,
    tap_skipped_because: tapSmall === null ? rigUnavailableReason() : null,
  };
  if (json) {
    console.log(JSON.stringify(result));
    return;
  }
  const k = (x: number | null): string => (x === null ? 'n/a' : `${(x / 1000).toFixed(0)} k`);
  console.log(`TAP, 98-byte echo requests written / replies read (kernel answers each): ${k(result.tap_98B_written_fps)} / ${k(result.tap_98B_read_fps)} frames/s`);
  console.log(`TAP, 1514-byte frames read: ${k(result.tap_1514B_read_fps)} frames/s (${result.tap_1514B_read_gbps?.toFixed(2) ?? 'n/a'} Gbit/s)`);
  if (result.tap_skipped_because !== null) console.log(`  (TAP skipped: ${result.tap_skipped_because})`);
  console.log(`UDP link on loopback: ${k(udpSmall)} frames/s at 98 B, ${k(udpLarge)} frames/s at 1514 B`);
  console.log(`Virtual switch, 2 workers, echo: ${k(vs1500.fps)} frames/s (${vs1500.gbps.toFixed(2)} Gbit/s) at MTU 1500, ${k(vs64k.fps)} frames/s (${vs64k.gbps.toFixed(2)} Gbit/s) at MTU 65535`);
  console.log(`RSS steering (Toeplitz 4-tuple): ${k(rss)} frames/s`);
}

await main();
