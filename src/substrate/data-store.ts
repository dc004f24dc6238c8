/**
 * The data store: small state that outlives a server's restarts (the MINIX
 * data-store server's role). The supervisor keeps one namespace per server;
 * a server reads its namespace synchronously from the snapshot it was
 * started with and writes through to the supervisor (structured-clone values,
 * a postMessage each: this is configuration and rules, not the data path).
 */

export interface DataStore {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  delete(key: string): void;
  keys(): string[];
}

/** What a store write looks like on its way to the supervisor. */
export interface StoreWrite {
  readonly kind: 'store-set' | 'store-delete';
  readonly server: string;
  readonly key: string;
  readonly value?: unknown;
}

/** Server-side store: a local copy plus a write-through sink. */
export class LocalDataStore implements DataStore {
  private readonly map: Map<string, unknown>;

  constructor(
    private readonly server: string,
    snapshot: Readonly<Record<string, unknown>>,
    private readonly sink: (w: StoreWrite) => void,
  ) {
    this.map = new Map(Object.entries(snapshot));
  }

  get(key: string): unknown { return this.map.get(key); }

  set(key: string, value: unknown): void {
    this.map.set(key, value);
    this.sink({ kind: 'store-set', server: this.server, key, value });
  }

  delete(key: string): void {
    this.map.delete(key);
    this.sink({ kind: 'store-delete', server: this.server, key });
  }

  keys(): string[] { return [...this.map.keys()]; }
}

/** Supervisor-side store: every server's namespace. */
export class SupervisorDataStore {
  private readonly spaces = new Map<string, Map<string, unknown>>();

  apply(w: StoreWrite): void {
    let s = this.spaces.get(w.server);
    if (s === undefined) { s = new Map(); this.spaces.set(w.server, s); }
    if (w.kind === 'store-set') s.set(w.key, w.value); else s.delete(w.key);
  }

  /** Plain-object copy of a server's namespace (sent to its next incarnation). */
  snapshot(server: string): Record<string, unknown> {
    return Object.fromEntries(this.spaces.get(server) ?? []);
  }

  get(server: string, key: string): unknown { return this.spaces.get(server)?.get(key); }
  set(server: string, key: string, value: unknown): void { this.apply({ kind: 'store-set', server, key, value }); }
}
