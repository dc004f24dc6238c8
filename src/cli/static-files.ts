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
 * In front of them, one fast path (SmallFiles): a plain GET or HEAD of a small
 * regular file, by a path of plain names, answered from memory. `send` makes four
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
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import etag from 'etag';
import { contentType } from 'mime-types';
import serveStatic from 'serve-static';
import serveIndex from 'serve-index';

/** Largest file the fast path serves from memory, bytes. */
export const SMALL_FILE_MAX = 64 * 1024;
/** Most bytes of file bodies kept in memory. */
const CACHE_MAX_BYTES = 16 * 1024 * 1024;
/** A path of plain names: every segment starts with a letter, digit, '_', '~' or '-', and holds no '%'. */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+$/;

interface CachedFile {
  readonly ino: number; readonly size: number; readonly mtimeMs: number; readonly ctimeMs: number;
  readonly body: Buffer;
  readonly headers: readonly (readonly [string, string])[];
}

/** How the requests were answered (a test and `newtos up` look). */
export interface StaticFilesStats {
  /** Answered by the fast path from memory. */
  fastPath: number;
  /** Left to serve-static / serve-index. */
  library: number;
  /** Bodies (re)read into memory. */
  reads: number;
}

export interface StaticFilesHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  readonly stats: StaticFilesStats;
}

/** Small regular files by absolute path, checked against a fresh stat at every use. */
class SmallFiles {
  private readonly files = new Map<string, CachedFile>();
  private bytes = 0;

  constructor(private readonly root: string, private readonly stats: StaticFilesStats) {}

  /** The file for a request's path, or null when the libraries should answer. */
  lookup(pathname: string): CachedFile | null {
    const path = join(this.root, pathname);
    let st: Stats | undefined;
    try { st = statSync(path, { throwIfNoEntry: false }); } catch { return null; }
    if (st === undefined || !st.isFile() || st.size > SMALL_FILE_MAX) { this.drop(path); return null; }
    const had = this.files.get(path);
    if (had !== undefined && had.ino === st.ino && had.size === st.size && had.mtimeMs === st.mtimeMs && had.ctimeMs === st.ctimeMs) return had;
    this.drop(path);
    let body: Buffer;
    try { body = readFileSync(path); } catch { return null; }
    // Changed while read: let send deal with a file in flux.
    if (body.length !== st.size) return null;
    this.stats.reads++;
    const headers: [string, string][] = [
      ['Accept-Ranges', 'bytes'],
      ['Cache-Control', 'public, max-age=0'],
      ['Last-Modified', st.mtime.toUTCString()],
      ['ETag', etag(st)],
      ['Content-Type', contentType(extname(path)) || 'application/octet-stream'],
      ['Content-Length', String(st.size)],
    ];
    const f: CachedFile = { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, body, headers };
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

/** The headers after which `send` answers other than 200 with the whole file. */
const NOT_PLAIN = ['range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since'] as const;

/** A request handler serving the directory `root` (an absolute path). `fastPath: false` leaves every request to the libraries. */
export function staticFiles(root: string, options: { readonly fastPath?: boolean } = {}): StaticFilesHandler {
  const files = serveStatic(root, { index: ['index.html'], redirect: true, fallthrough: true, dotfiles: 'ignore' });
  const listing = serveIndex(root, { icons: false, view: 'details', hidden: false });
  const stats: StaticFilesStats = { fastPath: 0, library: 0, reads: 0 };
  const small = options.fastPath === false ? null : new SmallFiles(root, stats);
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
        res.end(req.method === 'HEAD' ? undefined : f.body);
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
