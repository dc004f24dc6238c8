/**
 * The floor of any user-space responder behind a TAP device on this machine, for bench:rr's
 * idle ping figures: one Node thread that blocks in poll(2) on the device, reads a frame,
 * answers ARP requests and ICMP echo requests for one address, and writes the answer back.
 * No stack, no threads, no messages: what is left of an idle ping's time here is the
 * kernel's and the machine's (wake-ups, cold caches), which newtos pays as well.
 *
 * Usage (inside the namespace that holds the device): node tap-echo-responder.js DEV A.B.C.D
 * Prints "ready" once the device is open; runs until killed.
 */
import { contiguousSlots } from '../src/driver/nic/backend.js';
import { TapBackend } from '../src/driver/nic/tap.js';
import { internetChecksum } from '../src/wire/checksum.js';

const [dev, addr] = process.argv.slice(2);
if (dev === undefined || addr === undefined || !/^\d+\.\d+\.\d+\.\d+$/.test(addr)) {
  console.error('usage: tap-echo-responder DEV A.B.C.D');
  process.exit(2);
}
const ip = Uint8Array.from(addr.split('.').map(Number));
const tap = TapBackend.open({ name: dev, vnetHdr: false });
const mac = tap.mac;
const SLOT = 2048;
const rx = contiguousSlots(new Uint8Array(new SharedArrayBuffer(32 * SLOT)), 32, SLOT);
const tx = contiguousSlots(new Uint8Array(new SharedArrayBuffer(SLOT)), 1, SLOT);
const same = (a: Uint8Array, at: number, b: Uint8Array): boolean => b.every((x, i) => a[at + i] === x);

/** The answer to the frame at f[0, len) into out (returns its length), or 0 for none. */
function answer(f: Uint8Array, len: number, out: Uint8Array): number {
  if (len < 42) return 0;
  const type = (f[12]! << 8) | f[13]!;
  if (type === 0x0806 && f[21] === 1 && same(f, 38, ip)) {
    out.set(f.subarray(6, 12), 0); out.set(mac, 6); out[12] = 0x08; out[13] = 0x06;
    out.set(f.subarray(14, 20), 14); out[20] = 0; out[21] = 2;
    out.set(mac, 22); out.set(ip, 28); out.set(f.subarray(22, 32), 32);
    return 42;
  }
  if (type !== 0x0800) return 0;
  const ihl = (f[14]! & 15) * 4;
  const total = (f[16]! << 8) | f[17]!;
  if (f[23] !== 1 || !same(f, 30, ip) || 14 + total > len || f[14 + ihl] !== 8) return 0;
  out.set(f.subarray(0, 14 + total), 0);
  out.set(f.subarray(6, 12), 0); out.set(mac, 6);
  out.set(f.subarray(30, 34), 26); out.set(f.subarray(26, 30), 30);
  out[24] = 0; out[25] = 0;
  const ipSum = internetChecksum(out, 14, 14 + ihl);
  out[24] = ipSum >> 8; out[25] = ipSum & 0xff;
  const icmp = 14 + ihl;
  out[icmp] = 0; out[icmp + 2] = 0; out[icmp + 3] = 0;
  const sum = internetChecksum(out, icmp, 14 + total);
  out[icmp + 2] = sum >> 8; out[icmp + 3] = sum & 0xff;
  return 14 + total;
}

console.log('ready');
for (;;) {
  tap.waitReadable(1000);
  const n = tap.receive(rx, 32);
  for (let i = 0; i < n; i++) {
    const f = rx.memory.subarray(rx.offsets[i]!, rx.offsets[i]! + rx.lengths[i]!);
    const len = answer(f, f.length, tx.memory.subarray(tx.offsets[0]!, tx.offsets[0]! + SLOT));
    if (len === 0) continue;
    (tx.lengths as Uint32Array)[0] = len;
    tap.transmit(tx, 1);
  }
}
