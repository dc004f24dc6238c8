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
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import serveStatic from 'serve-static';
import serveIndex from 'serve-index';

/** A request handler serving the directory `root` (an absolute path). */
export function staticFiles(root: string): (req: IncomingMessage, res: ServerResponse) => void {
  const files = serveStatic(root, { index: ['index.html'], redirect: true, fallthrough: true, dotfiles: 'ignore' });
  const listing = serveIndex(root, { icons: false, view: 'details', hidden: false });
  return (req, res) => {
    const fail = (err?: Error & { status?: number }): void => {
      const status = err?.status ?? 404;
      if (res.headersSent) { res.destroy(); return; }
      const body = `${status} ${STATUS_CODES[status] ?? ''}\n`;
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    files(req, res, (err) => { if (err !== undefined) fail(err); else listing(req, res, fail); });
  };
}
