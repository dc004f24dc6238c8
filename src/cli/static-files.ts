/**
 * The file server of `newtos up --http DIR`: an http request handler (for an
 * http.Server on the stack's `http` glue) over two libraries of the Express
 * project, chosen because they are what Express itself serves files with:
 *
 * - serve-static (over `send`): resolves the path under DIR and refuses one
 *   that leaves it (`..`, raw or percent-encoded: 403), ignores dotfiles (404),
 *   serves index.html for a directory (redirecting `/dir` to `/dir/`), sets the
 *   content type from the extension, answers Range (206, 416) and conditional
 *   requests (ETag, Last-Modified) and HEAD without reading the file;
 * - serve-index: a directory's listing (HTML, or JSON / text by Accept) when it
 *   has no index.html, with the same checks; other methods get 405.
 *
 * serve-handler (one package for both) was set aside: its 6.1 sends the whole
 * file along with a 416 status and reads the file to answer HEAD.
 *
 * In front of them, one fast path (FastFiles): a plain GET or HEAD of a regular
 * file, by a path of plain names: a small one answered from memory, a bigger one
 * streamed from the file in 256 KiB reads into a few buffers reused for every
 * response (send's read stream allocates a fresh 64 KiB Buffer per read: 200 MB
 * of garbage per 200 MB file, and V8's collector threads took as much CPU as the
 * application thread on 2 cores). `send` makes four
 * trips through libuv's thread pool for every file (stat, open, read, close), each
 * a wake-up of a pool thread and one of the event loop: on 2 cores that was half of
 * a small request's time over TAP (wrk -c1: p50 512 us with, 251 us without). The
 * fast path takes only what it can answer exactly as `send` would and leaves the
 * rest to the libraries: any '%', a segment starting with '.', an empty segment or
 * a trailing '/' (so never `..`, a dotfile, a directory or an escape), a Range or
 * conditional header, a file over SMALL_FILE_MAX, anything that is not a regular
 * file. A cached body is used only while the file's stat (inode, size, mtime,
 * ctime) is unchanged; its headers are send's (same order, `etag` and `mime-types`
 * as send computes them), which the test compares header for header.
 */
import { readFileSync, statSync, type Stats } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import etag from 'etag';
import { contentType } from 'mime-types';
import serveStatic from 'serve-static';
import serveIndex from 'serve-index';

/** Largest file the fast path serves from memory, bytes. */
export const SMALL_FILE_MAX = 64 * 1024;
/** Bytes per read when streaming a bigger file. */
const STREAM_CHUNK = 256 * 1024;
/** Read buffers in flight per streamed response, and kept for reuse across responses. */
const STREAM_BUFFERS = 3;
const SPARE_BUFFERS = 16;
/** Most bytes of file bodies kept in memory. */
const CACHE_MAX_BYTES = 16 * 1024 * 1024;
/** A path of plain names: every segment starts with a letter, digit, '_', '~' or '-', and holds no '%'. */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+$/;

/** A file bigger than SMALL_FILE_MAX, to stream: its path, size and send's headers. */
interface BigFile {
  readonly path: string;
  readonly size: number;
  readonly headers: readonly (readonly [string, string])[];
}

interface CachedFile {
  readonly ino: number; readonly size: number; readonly mtimeMs: number; readonly ctimeMs: number;
  readonly body: Buffer;
  readonly headers: readonly (readonly [string, string])[];
}

/** How the requests were answered (a test and `newtos up` look). */
export interface StaticFilesStats {
  /** Answered by the fast path: from memory, or streamed from the file (`streamed`). */
  fastPath: number;
  /** Of those, streamed from a file bigger than SMALL_FILE_MAX. */
  streamed: number;
  /** Left to serve-static / serve-index. */
  library: number;
  /** Bodies (re)read into memory. */
  reads: number;
}

export interface StaticFilesHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  readonly stats: StaticFilesStats;
}

/** send's headers for a file, in send's order. */
function headersOf(path: string, st: Stats): [string, string][] {
  return [
    ['Accept-Ranges', 'bytes'],
    ['Cache-Control', 'public, max-age=0'],
    ['Last-Modified', st.mtime.toUTCString()],
    ['ETag', etag(st)],
    ['Content-Type', contentType(extname(path)) || 'application/octet-stream'],
    ['Content-Length', String(st.size)],
  ];
}

/** Small regular files by absolute path, checked against a fresh stat at every use; bigger ones to stream. */
class FastFiles {
  private readonly files = new Map<string, CachedFile>();
  private bytes = 0;

  constructor(private readonly root: string, private readonly stats: StaticFilesStats) {}

  /** The file for a request's path, or null when the libraries should answer. */
  lookup(pathname: string): CachedFile | BigFile | null {
    const path = join(this.root, pathname);
    let st: Stats | undefined;
    try { st = statSync(path, { throwIfNoEntry: false }); } catch { return null; }
    if (st === undefined || !st.isFile()) { this.drop(path); return null; }
    if (st.size > SMALL_FILE_MAX) { this.drop(path); return { path, size: st.size, headers: headersOf(path, st) }; }
    const had = this.files.get(path);
    if (had !== undefined && had.ino === st.ino && had.size === st.size && had.mtimeMs === st.mtimeMs && had.ctimeMs === st.ctimeMs) return had;
    this.drop(path);
    let body: Buffer;
    try { body = readFileSync(path); } catch { return null; }
    // Changed while read: let send deal with a file in flux.
    if (body.length !== st.size) return null;
    this.stats.reads++;
    const f: CachedFile = { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, body, headers: headersOf(path, st) };
    this.files.set(path, f);
    this.bytes += body.length;
    // Oldest first (a Map keeps insertion order).
    for (const [k, old] of this.files) {
      if (this.bytes <= CACHE_MAX_BYTES) break;
      this.files.delete(k);
      this.bytes -= old.body.length;
    }
    return f;
  }

  private drop(path: string): void {
    const f = this.files.get(path);
    if (f === undefined) return;
    this.files.delete(path);
    this.bytes -= f.body.length;
  }
}

/** Read buffers reused across streamed responses. */
const spare: Buffer[] = [];

/**
 * Streams `f` into `res` (headers already set): up to STREAM_BUFFERS reads in flight, each
 * buffer reused once the socket has taken its bytes (the write's callback). A read error, or a
 * file that shrank, ends the response short (destroyed, as send's stream does); a client that
 * goes away stops the reads.
 */
async function streamFile(f: BigFile, res: ServerResponse): Promise<void> {
  let fh;
  try {
    fh = await openFile(f.path, 'r');
  } catch {
    // Gone since its stat: a 404, as the libraries answer a missing file.
    if (res.headersSent) { res.destroy(); return; }
    for (const [k] of f.headers) res.removeHeader(k);
    const body = '404 Not Found\n';
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  let gone = false;
  const onClose = (): void => { gone = true; };
  res.once('close', onClose);
  const free: Buffer[] = [];
  for (let i = 0; i < STREAM_BUFFERS; i++) free.push(spare.pop() ?? Buffer.allocUnsafeSlow(STREAM_CHUNK));
  let waiting: (() => void) | null = null;
  const giveBack = (b: Buffer): void => { free.push(b); const w = waiting; waiting = null; w?.(); };
  try {
    let pos = 0;
    while (pos < f.size && !gone) {
      if (free.length === 0) { await new Promise<void>((r) => { waiting = r; }); continue; }
      const buf = free.pop()!;
      const { bytesRead } = await fh.read(buf, 0, Math.min(STREAM_CHUNK, f.size - pos), pos);
      if (bytesRead === 0) { free.push(buf); res.destroy(); return; }
      pos += bytesRead;
      const more = res.write(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead), () => giveBack(buf));
      if (!more && !gone) await new Promise<void>((r) => { const done = (): void => { res.off('drain', done); res.off('close', done); r(); }; res.once('drain', done); res.once('close', done); });
    }
    if (!gone) res.end();
  } catch {
    res.destroy();
  } finally {
    res.off('close', onClose);
    await fh.close().catch(() => undefined);
    // Buffers still in a pending write come back through giveBack, after this: keep only these.
    for (const b of free) if (spare.length < SPARE_BUFFERS) spare.push(b);
  }
}

/** The headers after which `send` answers other than 200 with the whole file. */
const NOT_PLAIN = ['range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since'] as const;

/** A request handler serving the directory `root` (an absolute path). `fastPath: false` leaves every request to the libraries. */
export function staticFiles(root: string, options: { readonly fastPath?: boolean } = {}): StaticFilesHandler {
  const files = serveStatic(root, { index: ['index.html'], redirect: true, fallthrough: true, dotfiles: 'ignore' });
  const listing = serveIndex(root, { icons: false, view: 'details', hidden: false });
  const stats: StaticFilesStats = { fastPath: 0, streamed: 0, library: 0, reads: 0 };
  const small = options.fastPath === false ? null : new FastFiles(root, stats);
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (small !== null && (req.method === 'GET' || req.method === 'HEAD') && !NOT_PLAIN.some((h) => req.headers[h] !== undefined)) {
      const url = req.url ?? '';
      const q = url.indexOf('?');
      const pathname = q < 0 ? url : url.slice(0, q);
      const f = PLAIN_PATH.test(pathname) ? small.lookup(pathname) : null;
      if (f !== null) {
        stats.fastPath++;
        res.statusCode = 200;
        for (const [k, v] of f.headers) res.setHeader(k, v);
        if (req.method === 'HEAD') res.end();
        else if ('body' in f) res.end(f.body);
        else { stats.streamed++; void streamFile(f, res); }
        return;
      }
    }
    stats.library++;
    const fail = (err?: Error & { status?: number }): void => {
      const status = err?.status ?? 404;
      if (res.headersSent) { res.destroy(); return; }
      const body = `${status} ${STATUS_CODES[status] ?? ''}\n`;
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    files(req, res, (err) => { if (err !== undefined) fail(err); else listing(req, res, fail); });
  };
  return Object.assign(handler, { stats });
}
