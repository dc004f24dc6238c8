/** Helpers for tests of event-driven links: wait for frames, read them out. */
import { setTimeout as sleep } from 'node:timers/promises';
import { contiguousSlots, type NicBackend } from '../../src/driver/nic/backend.js';

/** Receives until `count` frames arrived or `timeoutMs` passed; returns copies. */
export async function receiveFrames(link: NicBackend, count: number, timeoutMs = 3000, slotSize = 2048): Promise<Uint8Array[]> {
  const slots = contiguousSlots(new Uint8Array(new SharedArrayBuffer(64 * slotSize)), 64, slotSize);
  const frames: Uint8Array[] = [];
  const deadline = Date.now() + timeoutMs;
  while (frames.length < count && Date.now() < deadline) {
    const n = link.receive(slots, Math.min(64, count - frames.length));
    for (let i = 0; i < n; i++) {
      const off = slots.offsets[i]!;
      frames.push(slots.memory.slice(off, off + slots.lengths[i]!));
    }
    if (n === 0) await sleep(2);
  }
  return frames;
}

/** Transmits `frames` (copied into slots), retrying until all are consumed. */
export async function transmitFrames(link: NicBackend, frames: readonly Uint8Array[], slotSize = 2048): Promise<void> {
  const slots = contiguousSlots(new Uint8Array(frames.length * slotSize), frames.length, slotSize);
  frames.forEach((f, i) => { slots.memory.set(f, slots.offsets[i]!); slots.lengths[i] = f.length; });
  let done = 0;
  while (done < frames.length) {
    const view = { ...slots, offsets: slots.offsets.subarray(done), lengths: slots.lengths.subarray(done) };
    done += link.transmit(view, frames.length - done);
    if (done < frames.length) await sleep(1);
  }
}

/** A test frame: broadcast destination, `src` MAC, EtherType 0x88b5 (local experimental), payload of `len` bytes seeded by `seed`. */
export function testFrame(src: Uint8Array, seed: number, len = 100): Uint8Array {
  const f = new Uint8Array(len);
  f.fill(0xff, 0, 6);
  f.set(src, 6);
  f[12] = 0x88; f[13] = 0xb5;
  for (let i = 14; i < len; i++) f[i] = (seed * 31 + i) & 0xff;
  return f;
}
