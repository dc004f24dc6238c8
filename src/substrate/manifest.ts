/**
 * The declarative manifest the supervisor starts a system from: servers,
 * channels between their endpoints, packet pools, placement, polling,
 * resource limits and restart policy. `validateManifest` checks an untrusted
 * value and returns either a normalized manifest (defaults filled in) or
 * every problem as { field, reason } (e.g. `channels[2].to: unknown server
 * "rly"`). It never throws.
 *
 * ```json
 * { "servers": [ { "name": "source", "module": "/abs/source.js", "options": {} }, ... ],
 *   "channels": [ { "from": "source.out", "to": "relay1.in", "capacity": 1024 } ],
 *   "pools": [ { "name": "frames", "owner": "source", "size": "frame", "count": 512 } ],
 *   "placement": { "mode": "isolated" },          // or "monolithic", or "groups": [["a","b"],["c"]]
 *   "polling": { "mode": "adaptive" },
 *   "supervisor": { "spares": 2, "hangTimeoutMs": 250, "restart": { "maxRestarts": 5, ... } } }
 * ```
 */
import { BELL_WORDS, POOL_FRAME_BUF, POOL_SEGMENT_BUF } from './layout.js';
import { DEFAULT_POLLING, type PollingMode, type PollingOptions } from './server-loop.js';

export interface ResourceLimits {
  readonly maxOldGenerationSizeMb?: number;
  readonly maxYoungGenerationSizeMb?: number;
  readonly stackSizeMb?: number;
}

export interface ServerSpec {
  readonly name: string;
  /** Path or file: URL of the compiled server module (exports createServer). */
  readonly module: string;
  readonly options: Readonly<Record<string, unknown>>;
  readonly resourceLimits?: ResourceLimits;
  /**
   * After a crash, start the successor only once the dead thread has exited
   * (bounded; supervisor.ts reap): for a server holding OS resources that are
   * released only with its thread, like the driver's TAP fd. Others restart at
   * once, a few ms sooner.
   */
  readonly restartAfterExit?: boolean;
  /**
   * Keep a warm standby for the server's thread (supervisor.ts, takeover.ts): a worker that
   * built the next generation ahead and takes over the moment the thread dies, promoted by
   * the dying thread itself. Only for a server whose `createServer` may run early: it reads
   * nothing at build that changes while its predecessor runs (options, a store written once),
   * touches no shared state, and owns no pool. Used only when every server of the thread
   * allows it and every channel of theirs is a ring.
   */
  readonly standby?: boolean;
  /**
   * Bytes of shared memory that outlive the server's threads (ServerContext.shared): zeroed
   * before the first start, handed to every successor as its predecessor left it. For state
   * a successor must find exactly as it was (a packet filter's flow table and counters).
   */
  readonly sharedBytes?: number;
  /**
   * The CPU hang rule for this server's thread, ms (SupervisorOptions.hangCpuMs when absent). A
   * thread holding several servers takes the longest rule among them: a server with a large
   * heap (long GC pauses) must not be taken for hung because a small one shares its thread.
   */
  readonly hangCpuMs?: number;
}

export interface ChannelSpec {
  /** "server.endpoint" of the producer. */
  readonly from: string;
  /** "server.endpoint" of the consumer. */
  readonly to: string;
  /** Ring slots (power of two). */
  readonly capacity: number;
  readonly transport: 'ring' | 'port';
}

export interface PoolManifestSpec {
  readonly name: string;
  readonly owner: string;
  /** Buffer size in bytes (after 'frame' / 'segment' are resolved). */
  readonly bufSize: number;
  readonly count: number;
  /** Servers that may resolve pointers into it; default all. */
  readonly readers: readonly string[];
  /**
   * The name its owner finds it under (`ctx.pools[as]`); default `name`. Lets copies of one
   * server (a stack replica's `tcp-1`) own a pool each under the name their code expects.
   */
  readonly as?: string;
}

export interface RestartPolicy {
  /** Delay before the n-th quick restart in a row: min(base * 2^(n-1), max); the first is immediate. */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** A restart more than this long after the previous one starts a fresh back-off. */
  readonly backoffResetMs: number;
  /** More than maxRestarts within windowMs: the server is marked failed (crash loop). */
  readonly maxRestarts: number;
  readonly windowMs: number;
  /** A failed server is revived this long after it failed (Supervisor.revive); 0: never, it stays failed. */
  readonly retryAfterMs: number;
}

export interface SupervisorOptions {
  /** Warm spare threads kept ready per resource-limit profile. */
  readonly spares: number;
  /** Heartbeat unchanged this long while work is queued = hang (a thread blocked, or one that cannot be timed). */
  readonly hangTimeoutMs: number;
  /**
   * Heartbeat unchanged while the thread ran this long on a CPU = hang, queued work or not (a
   * loop that spins without passes). Read from the thread's own CPU clock (Linux
   * /proc/self/task/TID/schedstat), so a thread that waits for a core is never taken for hung.
   */
  readonly hangCpuMs: number;
  /** How often the hang detector looks. */
  readonly hangCheckMs: number;
  readonly restart: RestartPolicy;
}

export interface Manifest {
  readonly servers: readonly ServerSpec[];
  readonly channels: readonly ChannelSpec[];
  readonly pools: readonly PoolManifestSpec[];
  /** Threads: each group of server names runs in one thread. */
  readonly groups: readonly (readonly string[])[];
  readonly polling: PollingOptions;
  readonly supervisor: SupervisorOptions;
  /**
   * Parties that are not servers: threads the supervisor does not start or
   * watch, such as the application's main thread. Channels may join them
   * (always over a ring); `Supervisor.external(name)` hands out their ends.
   */
  readonly externals: readonly string[];
  /**
   * Doorbells made elsewhere, by server name: the thread that hosts that server
   * parks on this doorbell instead of a new one. A device that rings its
   * consumer (the virtual switch rings the port's doorbell when a frame
   * arrives) then wakes the server's thread directly.
   */
  readonly doorbells: Readonly<Record<string, SharedArrayBuffer>>;
  /**
   * Servers may move between threads while they run (Supervisor.regroup): each has a doorbell
   * of its own that its producers ring, forwarded to the doorbell of the thread it runs in
   * (doorbell.ts). Only over rings: a port channel cannot follow a server to another thread.
   */
  readonly regroup: boolean;
}

export interface ManifestIssue {
  readonly field: string;
  readonly reason: string;
}

export const DEFAULT_RESTART: RestartPolicy = {
  backoffBaseMs: 20, backoffMaxMs: 2000, backoffResetMs: 1000, maxRestarts: 5, windowMs: 10_000, retryAfterMs: 0,
};

export const DEFAULT_SUPERVISOR: SupervisorOptions = {
  spares: 1, hangTimeoutMs: 500, hangCpuMs: 120, hangCheckMs: 10, restart: DEFAULT_RESTART,
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
/** The most shared memory one server may ask for (ServerSpec.sharedBytes). */
export const SHARED_BYTES_MAX = 256 * 1024 * 1024;

export type ManifestResult =
  | { readonly ok: true; readonly value: Manifest }
  | { readonly ok: false; readonly issues: readonly ManifestIssue[] };

export function validateManifest(input: unknown): ManifestResult {
  const issues: ManifestIssue[] = [];
  const bad = (field: string, reason: string): void => { issues.push({ field, reason }); };
  const num = (o: Obj, key: string, field: string, dflt: number, min: number, max: number, integer = true): number => {
    const v = o[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max) {
      bad(`${field}.${key}`, `must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
      return dflt;
    }
    return v;
  };
  if (!isObj(input)) return { ok: false, issues: [{ field: '', reason: 'manifest must be an object' }] };

  // servers
  const servers: ServerSpec[] = [];
  const names = new Set<string>();
  if (!Array.isArray(input.servers) || input.servers.length === 0) bad('servers', 'must be a non-empty array');
  else input.servers.forEach((s: unknown, i: number) => {
    const f = `servers[${i}]`;
    if (!isObj(s)) { bad(f, 'must be an object'); return; }
    if (typeof s.name !== 'string' || !NAME.test(s.name)) { bad(`${f}.name`, 'must match [A-Za-z][A-Za-z0-9_-]{0,63}'); return; }
    if (names.has(s.name)) { bad(`${f}.name`, `duplicate server "${s.name}"`); return; }
    names.add(s.name);
    if (typeof s.module !== 'string' || s.module === '') { bad(`${f}.module`, 'must be a non-empty path or file: URL'); return; }
    if (s.options !== undefined && !isObj(s.options)) bad(`${f}.options`, 'must be an object');
    let resourceLimits: ResourceLimits | undefined;
    if (s.resourceLimits !== undefined) {
      if (!isObj(s.resourceLimits)) bad(`${f}.resourceLimits`, 'must be an object');
      else {
        const r = s.resourceLimits;
        for (const k of Object.keys(r)) {
          if (!['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'stackSizeMb'].includes(k)) bad(`${f}.resourceLimits.${k}`, 'unknown limit');
        }
        resourceLimits = {
          ...(r.maxOldGenerationSizeMb !== undefined ? { maxOldGenerationSizeMb: num(r, 'maxOldGenerationSizeMb', `${f}.resourceLimits`, 0, 4, 65536) } : {}),
          ...(r.maxYoungGenerationSizeMb !== undefined ? { maxYoungGenerationSizeMb: num(r, 'maxYoungGenerationSizeMb', `${f}.resourceLimits`, 0, 1, 4096) } : {}),
          ...(r.stackSizeMb !== undefined ? { stackSizeMb: num(r, 'stackSizeMb', `${f}.resourceLimits`, 4, 1, 256) } : {}),
        };
      }
    }
    if (s.restartAfterExit !== undefined && typeof s.restartAfterExit !== 'boolean') bad(`${f}.restartAfterExit`, 'must be a boolean');
    if (s.standby !== undefined && typeof s.standby !== 'boolean') bad(`${f}.standby`, 'must be a boolean');
    if (s.sharedBytes !== undefined && (typeof s.sharedBytes !== 'number' || !Number.isSafeInteger(s.sharedBytes) || s.sharedBytes < 0 || s.sharedBytes > SHARED_BYTES_MAX)) {
      bad(`${f}.sharedBytes`, `must be an integer from 0 to ${SHARED_BYTES_MAX}`);
    }
    if (s.hangCpuMs !== undefined && (typeof s.hangCpuMs !== 'number' || !Number.isFinite(s.hangCpuMs) || s.hangCpuMs < 5 || s.hangCpuMs > 600_000)) {
      bad(`${f}.hangCpuMs`, 'must be a number from 5 to 600000');
    }
    servers.push({
      name: s.name, module: s.module, options: isObj(s.options) ? s.options : {}, ...(resourceLimits ? { resourceLimits } : {}),
      ...(s.restartAfterExit === true ? { restartAfterExit: true } : {}),
      ...(s.standby === true ? { standby: true } : {}),
      ...(typeof s.sharedBytes === 'number' && s.sharedBytes > 0 ? { sharedBytes: s.sharedBytes } : {}),
      ...(typeof s.hangCpuMs === 'number' ? { hangCpuMs: s.hangCpuMs } : {}),
    });
  });

  // doorbells made elsewhere (a device's), by server name
  const doorbells: Record<string, SharedArrayBuffer> = {};
  if (input.doorbells !== undefined) {
    if (!isObj(input.doorbells)) bad('doorbells', 'must be an object of server name to SharedArrayBuffer');
    else for (const [k, v] of Object.entries(input.doorbells)) {
      if (!names.has(k)) bad(`doorbells.${k}`, `unknown server "${k}"`);
      else if (!(v instanceof SharedArrayBuffer) || v.byteLength < BELL_WORDS * 4) bad(`doorbells.${k}`, 'must be a doorbell SharedArrayBuffer (createDoorbell())');
      else doorbells[k] = v;
    }
  }

  // externals (not servers: e.g. the application thread)
  const externals: string[] = [];
  if (input.externals !== undefined && !Array.isArray(input.externals)) bad('externals', 'must be an array of names');
  else (input.externals as unknown[] | undefined ?? []).forEach((x: unknown, i: number) => {
    if (typeof x !== 'string' || !NAME.test(x)) bad(`externals[${i}]`, 'must match [A-Za-z][A-Za-z0-9_-]{0,63}');
    else if (names.has(x) || externals.includes(x)) bad(`externals[${i}]`, `"${x}" is already a server or external`);
    else externals.push(x);
  });
  const isExternal = (end: string | null): boolean => end !== null && externals.includes(end.split('.')[0]!);

  // channels
  const channels: ChannelSpec[] = [];
  const usedEnds = new Set<string>();
  const endpoint = (v: unknown, field: string, dir: 'out' | 'in'): string | null => {
    if (typeof v !== 'string' || !/^[^.]+\.[^.]+$/.test(v)) { bad(field, 'must be "server.endpoint"'); return null; }
    const [srv] = v.split('.');
    if (!names.has(srv!) && !externals.includes(srv!)) { bad(field, `unknown server "${srv}"`); return null; }
    const key = `${dir}:${v}`;
    if (usedEnds.has(key)) { bad(field, `endpoint "${v}" is already used by another channel`); return null; }
    usedEnds.add(key);
    return v;
  };
  if (input.channels !== undefined && !Array.isArray(input.channels)) bad('channels', 'must be an array');
  else (input.channels as unknown[] | undefined ?? []).forEach((c: unknown, i: number) => {
    const f = `channels[${i}]`;
    if (!isObj(c)) { bad(f, 'must be an object'); return; }
    const from = endpoint(c.from, `${f}.from`, 'out');
    const to = endpoint(c.to, `${f}.to`, 'in');
    const capacity = num(c, 'capacity', f, 1024, 2, 1 << 20);
    if ((capacity & (capacity - 1)) !== 0) bad(`${f}.capacity`, 'must be a power of two');
    const transport = c.transport ?? 'ring';
    if (transport !== 'ring' && transport !== 'port') bad(`${f}.transport`, 'must be "ring" or "port"');
    if (from !== null && to !== null && from.split('.')[0] === to.split('.')[0]) bad(f, 'a channel must join two different servers');
    if (isExternal(from) && isExternal(to)) bad(f, 'a channel must have a server at one end');
    if ((isExternal(from) || isExternal(to)) && transport !== 'ring') bad(`${f}.transport`, 'a channel to an external party must be a "ring"');
    if (from !== null && to !== null) channels.push({ from, to, capacity, transport: transport as 'ring' | 'port' });
  });

  // pools
  const pools: PoolManifestSpec[] = [];
  const poolNames = new Set<string>();
  if (input.pools !== undefined && !Array.isArray(input.pools)) bad('pools', 'must be an array');
  else (input.pools as unknown[] | undefined ?? []).forEach((p: unknown, i: number) => {
    const f = `pools[${i}]`;
    if (!isObj(p)) { bad(f, 'must be an object'); return; }
    if (typeof p.name !== 'string' || !NAME.test(p.name)) { bad(`${f}.name`, 'must match [A-Za-z][A-Za-z0-9_-]{0,63}'); return; }
    if (poolNames.has(p.name)) { bad(`${f}.name`, `duplicate pool "${p.name}"`); return; }
    poolNames.add(p.name);
    if (typeof p.owner !== 'string' || !names.has(p.owner)) { bad(`${f}.owner`, `unknown server "${String(p.owner)}"`); return; }
    let bufSize = POOL_FRAME_BUF;
    if (p.size === 'segment') bufSize = POOL_SEGMENT_BUF;
    else if (typeof p.size === 'number') {
      if (!Number.isInteger(p.size) || p.size < 256 || p.size % 64 !== 0 || p.size > 1 << 20) bad(`${f}.size`, 'must be "frame", "segment" or a multiple of 64 from 256 to 1 MiB');
      else bufSize = p.size;
    } else if (p.size !== undefined && p.size !== 'frame') bad(`${f}.size`, 'must be "frame", "segment" or a number of bytes');
    const count = num(p, 'count', f, 256, 1, 1 << 20);
    let readers = [...names];
    if (p.readers !== undefined) {
      if (!Array.isArray(p.readers) || p.readers.some((r) => typeof r !== 'string' || !names.has(r))) bad(`${f}.readers`, 'must list known servers');
      else readers = p.readers as string[];
    }
    if (p.as !== undefined && (typeof p.as !== 'string' || !NAME.test(p.as))) bad(`${f}.as`, 'must match [A-Za-z][A-Za-z0-9_-]{0,63}');
    pools.push({ name: p.name, owner: p.owner, bufSize, count, readers, ...(typeof p.as === 'string' ? { as: p.as } : {}) });
  });
  if (pools.length > 0xfffe) bad('pools', 'too many pools');

  // placement
  let groups: string[][] = servers.map((s) => [s.name]);
  const pl = input.placement;
  if (pl !== undefined) {
    if (!isObj(pl)) bad('placement', 'must be an object');
    else if (pl.mode === 'monolithic') groups = [servers.map((s) => s.name)];
    else if (pl.mode === 'groups' || pl.groups !== undefined) {
      const g = pl.groups;
      if (!Array.isArray(g) || g.some((x) => !Array.isArray(x) || x.length === 0)) bad('placement.groups', 'must be an array of non-empty arrays of server names');
      else {
        for (const issue of partitionIssues(names, g as unknown[][])) bad(issue.field === '' ? 'placement.groups' : `placement.${issue.field}`, issue.reason);
        groups = g as string[][];
      }
    } else if (pl.mode !== undefined && pl.mode !== 'isolated') bad('placement.mode', 'must be "isolated", "monolithic" or "groups"');
  }

  // polling
  let polling = DEFAULT_POLLING;
  if (input.polling !== undefined) {
    if (!isObj(input.polling)) bad('polling', 'must be an object');
    else {
      const p = input.polling;
      const mode = (p.mode ?? DEFAULT_POLLING.mode) as PollingMode;
      if (!['adaptive', 'busy', 'sleep'].includes(mode)) bad('polling.mode', 'must be "adaptive", "busy" or "sleep"');
      polling = {
        mode,
        parkCostUs: num(p, 'parkCostUs', 'polling', DEFAULT_POLLING.parkCostUs, 0, 1e6, false),
        maxSpinUs: num(p, 'maxSpinUs', 'polling', DEFAULT_POLLING.maxSpinUs, 0, 1e6, false),
        replySpinUs: num(p, 'replySpinUs', 'polling', DEFAULT_POLLING.replySpinUs, 0, 1e6, false),
        maxParkMs: num(p, 'maxParkMs', 'polling', DEFAULT_POLLING.maxParkMs, 1, 60_000, false),
        batch: num(p, 'batch', 'polling', DEFAULT_POLLING.batch, 1, 1 << 16),
      };
    }
  }

  // supervisor
  let supervisor = DEFAULT_SUPERVISOR;
  if (input.supervisor !== undefined) {
    if (!isObj(input.supervisor)) bad('supervisor', 'must be an object');
    else {
      const s = input.supervisor;
      let restart = DEFAULT_RESTART;
      if (s.restart !== undefined) {
        if (!isObj(s.restart)) bad('supervisor.restart', 'must be an object');
        else {
          const r = s.restart;
          restart = {
            backoffBaseMs: num(r, 'backoffBaseMs', 'supervisor.restart', DEFAULT_RESTART.backoffBaseMs, 0, 600_000),
            backoffMaxMs: num(r, 'backoffMaxMs', 'supervisor.restart', DEFAULT_RESTART.backoffMaxMs, 0, 3_600_000),
            backoffResetMs: num(r, 'backoffResetMs', 'supervisor.restart', DEFAULT_RESTART.backoffResetMs, 0, 3_600_000),
            maxRestarts: num(r, 'maxRestarts', 'supervisor.restart', DEFAULT_RESTART.maxRestarts, 0, 1_000_000),
            windowMs: num(r, 'windowMs', 'supervisor.restart', DEFAULT_RESTART.windowMs, 1, 86_400_000),
            retryAfterMs: num(r, 'retryAfterMs', 'supervisor.restart', DEFAULT_RESTART.retryAfterMs, 0, 86_400_000),
          };
        }
      }
      supervisor = {
        spares: num(s, 'spares', 'supervisor', DEFAULT_SUPERVISOR.spares, 0, 64),
        hangTimeoutMs: num(s, 'hangTimeoutMs', 'supervisor', DEFAULT_SUPERVISOR.hangTimeoutMs, 10, 600_000),
        hangCpuMs: num(s, 'hangCpuMs', 'supervisor', DEFAULT_SUPERVISOR.hangCpuMs, 5, 600_000),
        hangCheckMs: num(s, 'hangCheckMs', 'supervisor', DEFAULT_SUPERVISOR.hangCheckMs, 1, 60_000),
        restart,
      };
    }
  }

  for (const k of Object.keys(input)) {
    if (!['servers', 'channels', 'pools', 'placement', 'polling', 'supervisor', 'externals', 'doorbells', 'regroup'].includes(k)) bad(k, 'unknown field');
  }
  let regroup = false;
  if (input.regroup !== undefined) {
    if (typeof input.regroup !== 'boolean') bad('regroup', 'must be true or false');
    else if (input.regroup && channels.some((c) => c.transport === 'port')) bad('regroup', 'servers can move between threads only over rings (a channel has transport "port")');
    else regroup = input.regroup;
  }
  if (issues.length > 0) return { ok: false, issues };
  for (const [gi, grp] of groups.entries()) {
    const given = new Set(grp.map((n) => doorbells[n]).filter((d) => d !== undefined));
    if (given.size > 1) bad(`placement.groups[${gi}]`, 'servers placed together were given different doorbells');
  }
  return { ok: true, value: { servers, channels, pools, groups, polling, supervisor, externals, doorbells, regroup } };
}

/**
 * What is wrong with `groups` as a placement of the servers `names`: each must be placed exactly
 * once, and nothing else. Fields are `groups[i]` ('' for the whole).
 */
export function partitionIssues(names: ReadonlySet<string>, groups: readonly (readonly unknown[])[]): ManifestIssue[] {
  const issues: ManifestIssue[] = [];
  const seen = new Set<string>();
  for (const [gi, grp] of groups.entries()) {
    if (grp.length === 0) issues.push({ field: `groups[${gi}]`, reason: 'is empty' });
    for (const n of grp) {
      if (typeof n !== 'string' || !names.has(n)) issues.push({ field: `groups[${gi}]`, reason: `unknown server "${String(n)}"` });
      else if (seen.has(n)) issues.push({ field: `groups[${gi}]`, reason: `server "${n}" placed twice` });
      else seen.add(n);
    }
  }
  for (const n of names) if (!seen.has(n)) issues.push({ field: '', reason: `server "${n}" is not placed` });
  return issues;
}

/** "field: reason; field: reason" for an error message. */
export function formatIssues(issues: readonly ManifestIssue[]): string {
  return issues.map((i) => (i.field === '' ? i.reason : `${i.field}: ${i.reason}`)).join('; ');
}
