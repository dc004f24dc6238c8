/**
 * bench:tcp — the bare TCP engine, single thread, no I/O.
 *
 * Two engines connected by an in-memory link (a FIFO of segments delivered in
 * order, no loss), one bulk transfer from A to B: the application writes into
 * A with send() and B reads with receive() (both copy). Segment buffers come
 * from a small pool (no allocation per segment). Reported:
 *  - gbps_mss1460 / gbps_64k: payload Gbit/s at MSS 1460 and at 64 KiB segments
 *    (MSS 65483, the loopback case), checksums computed and verified;
 *  - segments_per_s: segments processed per second (both directions) in the
 *    MSS 1460 run;
 *  - the same with checksum offload, for comparison.
 *
 * Usage: npm run bench:tcp [-- --json] [--mb N] [--smoke]
 * --smoke: 1 MiB per run and no warm-up, to check that the benchmark still runs (test/bench).
 */
import { availableParallelism } from 'node:os';
import { SeededRng } from '../src/random/rng.js';
import { TcpEventType } from '../src/tcp/config.js';
import { TcpEngine } from '../src/tcp/engine.js';

const A = 0x0a000001;
const B = 0x0a000002;

interface Result { gbps: number; segmentsPerS: number; segments: number; seconds: number; bytes: number }

function run(mss: number, totalBytes: number, checksumOffload: boolean, bufSize = 512 * 1024): Result {
  // Segment pool: buffers are reused once delivered (delivery is synchronous below).
  const poolSmall: Uint8Array[] = [];
  const poolBig: Uint8Array[] = [];
  const qBuf: Uint8Array[] = [];
  const qLen: number[] = [];
  const qTo: number[] = [];
  let qHead = 0;
  const allocator = {
    alloc(len: number): Uint8Array | undefined {
      const b = len <= 2048 ? poolSmall.pop() ?? new Uint8Array(2048) : poolBig.pop() ?? new Uint8Array(65536 + 64);
      qBuf.push(b); // remember the backing buffer; transmit records the length
      return b.subarray(0, len);
    },
  };
  let segments = 0;
  const mk = (to: number, seed: number, onEvent: (type: number, id: number) => void): TcpEngine => new TcpEngine({
    rng: new SeededRng(seed),
    allocator,
    transmit: (_src, _dst, bytes) => {
      qLen.push(bytes.length);
      qTo.push(to);
      segments++;
    },
    onEvent,
    checksumOffload,
    // CUBIC: time stands still in this loop (now = 1), so a pacing controller (BBR) would wait forever.
    defaults: { mss, sendBufferSize: bufSize, recvBufferSize: bufSize, noDelay: true, congestion: 'cubic' },
    minRto: 200,
  });
  let aConn = -1;
  let bConn = -1;
  let writable = false;
  let readable = false;
  const a = mk(1, 1, (type) => { if (type === TcpEventType.Connected || type === TcpEventType.Writable) writable = true; });
  const b = mk(0, 2, (type, id) => {
    if (type === TcpEventType.Incoming) bConn = b.accept(id);
    else if (type === TcpEventType.Readable) readable = true;
  });
  b.listen({ addr: B, port: 5001 });
  const now = 1;
  aConn = a.connect({ localAddr: A, remoteAddr: B, remotePort: 5001 }, now);
  const chunk = new Uint8Array(256 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = i * 7;
  const readBuf = new Uint8Array(1 << 20);
  let sent = 0;
  let received = 0;
  const t0 = process.hrtime.bigint();
  let seg0 = 0;
  let started = false;
  for (;;) {
    if (writable && sent < totalBytes) {
      writable = false;
      while (sent < totalBytes) {
        const n = a.send(aConn, chunk.subarray(0, Math.min(chunk.length, totalBytes - sent)), now);
        sent += n;
        if (n < chunk.length) break;
      }
      if (!started) { started = true; seg0 = segments; }
    }
    if (readable) {
      readable = false;
      for (;;) {
        const n = b.receive(bConn, readBuf, now);
        if (n === 0) break;
        received += n;
      }
      if (received >= totalBytes) break;
    }
    if (qHead === qLen.length) {
      // Nothing in flight: let timers run (delayed ACKs); virtual time does not matter here.
      a.onTimer(now + 1000);
      b.onTimer(now + 1000);
      if (qHead === qLen.length && !readable && !writable) throw new Error(`stalled: ${sent} bytes sent, ${received} received of ${totalBytes} (MSS ${mss}, checksum offload ${checksumOffload})`);
      continue;
    }
    const buf = qBuf[qHead]!;
    const len = qLen[qHead]!;
    const to = qTo[qHead]!;
    qHead++;
    // With checksum offload the sender leaves checksums unfilled and the link vouches for
    // them (as the virtual switch between two offload ports does); without the flag the
    // receiver verifies, finds them wrong and drops every segment: 'stalled' after the SYN-ACK.
    (to === 1 ? b : a).onSegment(to === 1 ? A : B, to === 1 ? B : A, buf.subarray(0, len), now, checksumOffload);
    (buf.length === 2048 ? poolSmall : poolBig).push(buf);
    if (qHead > 4096 && qHead === qLen.length) {
      qHead = 0; qBuf.length = 0; qLen.length = 0; qTo.length = 0;
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const segs = segments - seg0;
  return { gbps: (received * 8) / seconds / 1e9, segmentsPerS: segs / seconds, segments: segs, seconds, bytes: received };
}

function main(): void {
  const json = process.argv.includes('--json');
  const smoke = process.argv.includes('--smoke');
  const mbArg = process.argv.indexOf('--mb');
  const mb = smoke ? 4 : mbArg >= 0 ? Number(process.argv[mbArg + 1]) : 512;
  if (!smoke) {
    // Warm up the JIT on both sizes.
    run(1460, 32 << 20, false);
    run(65483, 64 << 20, false);
  }
  const small = run(1460, (mb >> 2) << 20, false);
  const big = run(65483, mb << 20, false);
  const smallOff = run(1460, (mb >> 2) << 20, true);
  const bigOff = run(65483, mb << 20, true);
  const cores = availableParallelism();
  const out = {
    gbps_mss1460: +small.gbps.toFixed(3),
    gbps_64k: +big.gbps.toFixed(3),
    segments_per_s: Math.round(small.segmentsPerS),
    gbps_mss1460_offload: +smallOff.gbps.toFixed(3),
    gbps_64k_offload: +bigOff.gbps.toFixed(3),
    segments_per_s_offload: Math.round(smallOff.segmentsPerS),
    cores,
    smoke,
  };
  if (json) {
    console.log(JSON.stringify(out));
    return;
  }
  console.log(`bench:tcp — two engines, in-memory link, one thread, no I/O (${cores} cores)`);
  console.log(`MSS 1460:  ${out.gbps_mss1460} Gbit/s  ${out.segments_per_s} segments/s  (${small.bytes >> 20} MiB, ${small.segments} segments)`);
  console.log(`64 KiB:    ${out.gbps_64k} Gbit/s  ${Math.round(big.segmentsPerS)} segments/s  (${big.bytes >> 20} MiB)`);
  console.log(`checksum offload: MSS 1460 ${out.gbps_mss1460_offload} Gbit/s (${out.segments_per_s_offload} segments/s), 64 KiB ${out.gbps_64k_offload} Gbit/s`);
}

main();
