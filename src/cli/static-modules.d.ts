// The parts of serve-static and serve-index (CommonJS, no types of their own) that
// static-files.ts uses, as their READMEs document them.
declare module 'serve-static' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  interface ServeStaticOptions {
    readonly index?: string[] | false;
    readonly redirect?: boolean;
    readonly fallthrough?: boolean;
    readonly dotfiles?: 'allow' | 'deny' | 'ignore';
  }
  function serveStatic(root: string, options?: ServeStaticOptions):
    (req: IncomingMessage, res: ServerResponse, next: (err?: Error & { status?: number }) => void) => void;
  export default serveStatic;
}

declare module 'serve-index' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  interface ServeIndexOptions {
    readonly hidden?: boolean;
    readonly icons?: boolean;
    readonly view?: 'tiles' | 'details';
  }
  function serveIndex(root: string, options?: ServeIndexOptions):
    (req: IncomingMessage, res: ServerResponse, next: (err?: Error & { status?: number }) => void) => void;
  export default serveIndex;
}

declare module 'etag' {
  import type { Stats } from 'node:fs';
  function etag(entity: string | Buffer | Stats, options?: { readonly weak?: boolean }): string;
  export default etag;
}

declare module 'mime-types' {
  export function contentType(typeOrExtension: string): string | false;
}
