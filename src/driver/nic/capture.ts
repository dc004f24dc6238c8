/**
 * pcap capture on any NIC backend, switched on and off while it runs: the
 * backend's frame hook copies each received and transmitted frame into a
 * classic pcap stream (src/wire/pcap.ts: little-endian, microseconds,
 * LINKTYPE_ETHERNET), flushed in batches to a sink — a file, or memory.
 *
 * A capture copies; it is a diagnostic, not a data path. `maxFrames` bounds a
 * capture so a forgotten one cannot fill a disk; frames beyond it are counted
 * in `missed`.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { PCAP_FILE_HEADER_LEN, PcapWriter } from '../../wire/pcap.js';
import type { FrameDirection, FrameHook, NicBackend } from './backend.js';

export interface CaptureOptions {
  /** Bytes kept per frame (default 65535). */
  readonly snaplen?: number;
  /** Which frames: 'rx', 'tx' or 'both' (default). */
  readonly direction?: FrameDirection | 'both';
  /** Stop recording after this many frames (default unlimited). */
  readonly maxFrames?: number;
  /** Flush to the sink every this many frames (default 256; close() flushes the rest). */
  readonly flushFrames?: number;
}

/** Receives the pcap byte stream in order: the file header first, then records. */
export type CaptureSink = (chunk: Uint8Array) => void;

export class PcapCapture {
  /** Frames recorded. */
  frames = 0;
  /** Frames seen after maxFrames was reached. */
  missed = 0;
  private writer: PcapWriter;
  private pending = 0;
  private headerWritten = false;
  private readonly attached = new Set<NicBackend>();
  private closed = false;
  readonly hook: FrameHook;

  constructor(private readonly sink: CaptureSink, private readonly options: CaptureOptions = {}) {
    this.writer = new PcapWriter(options.snaplen ?? 65535);
    const want = options.direction ?? 'both';
    const max = options.maxFrames ?? Infinity;
    const flushAt = options.flushFrames ?? 256;
    this.hook = (direction, frame, timeMs) => {
      if (this.closed || (want !== 'both' && want !== direction)) return;
      if (this.frames >= max) { this.missed++; return; }
      this.writer.write(frame, Math.floor(timeMs * 1000));
      this.frames++;
      if (++this.pending >= flushAt) this.flush();
    };
  }

  /** Capture to a file (created or truncated). */
  static toFile(path: string, options?: CaptureOptions): PcapCapture {
    const fd = openSync(path, 'w');
    const capture = new PcapCapture((chunk) => { writeSync(fd, chunk); }, options);
    capture.onClose = () => closeSync(fd);
    capture.flush(); // the file header, so even an empty capture is a valid file
    return capture;
  }

  /** Capture into memory; `bytes()` of the returned holder gives the file. */
  static inMemory(options?: CaptureOptions): { capture: PcapCapture; bytes: () => Uint8Array } {
    const chunks: Uint8Array[] = [];
    const capture = new PcapCapture((chunk) => { chunks.push(chunk); }, options);
    return {
      capture,
      bytes: () => {
        capture.flush();
        const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        let at = 0;
        for (const c of chunks) { out.set(c, at); at += c.length; }
        return out;
      },
    };
  }

  private onClose: () => void = () => {};

  /** Starts capturing a backend's frames (replacing any hook it had). */
  attach(backend: NicBackend): void {
    backend.setFrameHook(this.hook);
    this.attached.add(backend);
  }

  /** Stops capturing a backend. */
  detach(backend: NicBackend): void {
    if (this.attached.delete(backend)) backend.setFrameHook(null);
  }

  /** Writes what has been recorded so far to the sink. */
  flush(): void {
    const bytes = this.writer.bytes();
    // Each writer starts with a file header: the sink gets it only once.
    const chunk = this.headerWritten ? bytes.subarray(PCAP_FILE_HEADER_LEN) : bytes;
    this.headerWritten = true;
    if (chunk.length > 0) this.sink(chunk);
    this.writer = new PcapWriter(this.options.snaplen ?? 65535);
    this.pending = 0;
  }

  /** Detaches from every backend, flushes, and closes a file sink. */
  close(): void {
    if (this.closed) return;
    for (const b of this.attached) b.setFrameHook(null);
    this.attached.clear();
    this.flush();
    this.closed = true;
    this.onClose();
  }
}
