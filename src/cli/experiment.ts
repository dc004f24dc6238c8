/**
 * `newtos experiment faults`: the fault experiment anyone can rerun. Two hosts on the
 * in-process virtual switch; for each server and fault kind a fresh TCP stream runs
 * from host b to host a, paced, while the fault is injected into host a's server.
 * The receiver timestamps every chunk, so the table gives the longest time without
 * goodput around the fault (gapMs), the bytes that never arrived intact (bytesLost),
 * whether the connection died (connectionsLost) and the retransmissions the sending
 * peer made meanwhile; the SVG draws goodput in 10 ms buckets for every row.
 */
import { createHash } from 'node:crypto';
import { createVswitch } from '../driver/nic/vswitch.js';
import { createStack, type Stack } from '../stack/host.js';
import type { NetSocket } from '../app/net-socket.js';
import type { FaultKind } from '../substrate/server-loop.js';
import { monotonicMs } from '../substrate/stats.js';
import { DeliverySampler } from './delivery-sampler.js';
import { TAP_NEWTOS_IP, TapRig, tapRowsUnavailable } from './experiment-tap.js';
import { NewtosError } from '../errors.js';

export const EXPERIMENT_SERVERS = ['pf', 'ip', 'driver', 'udp', 'sock', 'tcp'] as const;
export const EXPERIMENT_FAULTS = ['crash', 'hang', 'exit'] as const satisfies readonly FaultKind[];
export type ExperimentServer = (typeof EXPERIMENT_SERVERS)[number];
export type ExperimentFault = (typeof EXPERIMENT_FAULTS)[number];
export const EXPERIMENT_LINKS = ['vswitch', 'tap'] as const;
export type ExperimentLink = (typeof EXPERIMENT_LINKS)[number];

export interface FaultExperimentOptions {
  readonly servers?: readonly ExperimentServer[];
  readonly faults?: readonly ExperimentFault[];
  /** Paced sending rate of each stream, bytes per second (default 50 MB/s: 400 Mbit/s). */
  readonly rateBytesPerSec?: number;
  /** Stream time before the fault, ms (default 500). */
  readonly beforeMs?: number;
  /** Stream time after the fault's server runs again, ms (default 1000). */
  readonly afterMs?: number;
  readonly placement?: 'isolated' | 'monolithic';
  /**
   * Placement of the sending newtos host on the virtual switch (default 'grouped': two threads).
   * It is only the load: with 'isolated' its seven threads and the receiver's share two cores
   * here, and the stream pauses over 10 ms about twice as often with no fault at all.
   */
  readonly senderPlacement?: 'isolated' | 'grouped' | 'monolithic';
  /**
   * Where the sending peer is: 'vswitch', a second newtos host on the virtual switch;
   * 'tap', the Linux kernel's TCP in a namespace of the experiment's own behind a TAP device
   * (root only). Default: both where root, else the virtual switch only.
   */
  readonly links?: readonly ExperimentLink[];
  /**
   * Run a first row with no fault (server and fault 'none'): the longest gap the stream shows
   * anyway on this machine (scheduling, the application thread's own stalls), which the other
   * rows' gaps include.
   */
  readonly baseline?: boolean;
  /**
   * Rows per server and fault (and baseline), each with a fresh stream (default 1): one gap
   * says little on a busy 2-core machine, a distribution does (faultSummary).
   */
  readonly repeat?: number;
  /** A line of progress per row (default: none). */
  readonly progress?: (line: string) => void;
}

export interface FaultRow {
  readonly server: ExperimentServer | 'none';
  readonly fault: ExperimentFault | 'none';
  readonly link: ExperimentLink;
  /** Longest time without received data from the fault until the stream's end, ms. */
  readonly gapMs: number;
  /**
   * The gap the fault itself caused: the longest time without data that overlaps the time
   * the server was down (its death to its successor running), ms (NaN: no death seen). gapMs,
   * the longest gap after the fault, also holds later stalls of a busy machine (the baseline
   * row shows them). In a baseline row: the gap around the instant a fault would have been
   * injected (what an instant of the stream looks like with no fault: the reference).
   */
  readonly deathGapMs: number;
  /**
   * gapMs and deathGapMs again, timed where the stack delivers (TCP publishing bytes into the
   * socket's receive ring, watched every ~0.25 ms from a thread of its own, delivery-sampler.ts)
   * instead of where the application's thread gets to its 'data' events: without that thread's
   * own timer and GC stalls. NaN where the ring cannot be watched.
   */
  readonly deliveryGapMs: number;
  readonly deliveryDeathGapMs: number;
  /** Bytes the sender wrote that did not arrive intact (all unverified bytes on a hash mismatch). */
  readonly bytesLost: number;
  /** 1 when the stream's connection ended with an error or before its end, else 0. */
  readonly connectionsLost: number;
  /** Segments the sending host retransmitted during the row. */
  readonly peerRetransmits: number;
  /** From the death to the successor running, ms (NaN: no restart seen). */
  readonly restartMs: number;
  /**
   * From the death to the successor's first processed message, ms (NaN: none within the row). A
   * server off the stream's path (SOCK, UDP) may get its first message long after it runs.
   */
  readonly firstMessageMs: number;
  /** The successor was the server's warm standby (PF), woken by the dying thread. */
  readonly standby: boolean;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** Received bytes per 10 ms bucket from the stream's start; `faultAtMs` is on the same axis. */
  readonly goodput: readonly number[];
  readonly faultAtMs: number;
}

export interface FaultExperimentResult {
  readonly rows: readonly FaultRow[];
  readonly bucketMs: number;
}

const BUCKET_MS = 10;
/** Longest wait for a row's sender to stop, ms. */
const STOP_BOUND_MS = 10_000;
const PORT = 5001;
/** A write per millisecond of the stream's rate (1-64 KiB), so that the writes alone never leave a gap. */
export function chunkBytes(rateBytesPerSec: number): number {
  return Math.max(1024, Math.min(64 * 1024, Math.round(rateBytesPerSec / 1000)));
}

function retransmitsOf(s: Stack): number {
  const tcp = s.counters().tcp as Record<string, unknown>;
  const n = tcp['retransmits'];
  return typeof n === 'number' ? n : 0;
}

/** Resolves on 'drain' or 'close', whichever comes first, and removes both listeners. */
function drained(socket: NetSocket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => { socket.off('drain', done); socket.off('close', done); resolve(); };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The sending end of a row's stream. */
interface RowSender {
  readonly link: ExperimentLink;
  /** Connects to the receiving host's port and starts the paced stream. */
  start(): Promise<void>;
  /** Ends the stream (its end of the connection closes): what it sent and what became of it. */
  stop(): Promise<{ sent: number; sha256: string; lost: boolean; retransmits: number }>;
  dispose(): void;
}

/** A second newtos host on the virtual switch, pacing from this thread. */
function vswitchSender(b: Stack, rateBytesPerSec: number): RowSender {
  const txHash = createHash('sha256');
  let client: NetSocket | undefined;
  let sent = 0;
  let lost = false;
  let stop = false;
  let pace: Promise<void> = Promise.resolve();
  let retransmitsBefore = 0;
  return {
    link: 'vswitch',
    async start() {
      const c = b.net.connect({ port: PORT, host: '10.0.0.1' });
      // No Nagle: a write per millisecond must leave at once, not wait for the previous one's ACK.
      c.setNoDelay(true);
      client = c;
      c.on('error', () => { lost = true; });
      await new Promise<void>((resolve) => { c.once('connect', resolve); c.once('error', () => resolve()); });
      retransmitsBefore = retransmitsOf(b);
      const t0 = performance.now();
      // The pacer: one chunk whenever the schedule allows and the socket is not full.
      const CHUNK = chunkBytes(rateBytesPerSec);
      const pattern = Buffer.alloc(CHUNK);
      pace = (async () => {
        let seq = 0;
        while (!stop && !lost) {
          const due = t0 + ((sent + CHUNK) / rateBytesPerSec) * 1000;
          const wait = due - performance.now();
          if (wait > 0) await sleep(Math.min(wait, 20));
          if (performance.now() < due) continue;
          pattern.writeUInt32BE(seq++, 0);
          pattern.writeUInt32BE(sent >>> 0, 4);
          txHash.update(pattern);
          sent += CHUNK;
          if (!c.write(Buffer.from(pattern))) await drained(c);
        }
      })();
    },
    async stop() {
      stop = true;
      // Bounded: a stream that stopped moving (its 'drain' never comes) is a lost connection.
      let timer: NodeJS.Timeout | undefined;
      const stalled = await Promise.race([pace.then(() => false), new Promise<boolean>((r) => { timer = setTimeout(() => r(true), STOP_BOUND_MS); })]);
      clearTimeout(timer);
      if (stalled) { lost = true; client?.destroy(); }
      client?.end();
      return { sent, sha256: txHash.digest('hex'), lost, retransmits: retransmitsOf(b) - retransmitsBefore };
    },
    dispose() { client?.destroy(); },
  };
}

/** The Linux kernel's TCP behind a TAP device, pacing from a process in its namespace. */
function tapSender(rig: TapRig, rateBytesPerSec: number): RowSender {
  let sender: Awaited<ReturnType<TapRig['startSender']>> | undefined;
  return {
    link: 'tap',
    async start() { sender = await rig.startSender(PORT, rateBytesPerSec, chunkBytes(rateBytesPerSec)); },
    async stop() {
      const r = await sender!.stop();
      return { sent: r.sent, sha256: r.sha256, lost: r.error !== null, retransmits: r.retransmits };
    },
    dispose() { /* the process has ended */ },
  };
}

/** One row: a paced stream from `sender` to host a, with `fault` injected into a's `server`. */
async function runRow(a: Stack, sender: RowSender, server: ExperimentServer | 'none', fault: ExperimentFault | 'none', o: Required<Omit<FaultExperimentOptions, 'servers' | 'faults' | 'placement' | 'senderPlacement' | 'progress' | 'baseline' | 'links' | 'repeat'>>): Promise<FaultRow> {
  const arrivals: { t: number; n: number }[] = [];
  const rxHash = createHash('sha256');
  let received = 0;
  let lost = false;
  let ended = false;
  let resolveEnd: () => void = () => {};
  const endSeen = new Promise<void>((r) => { resolveEnd = r; });
  let sampler: DeliverySampler | undefined;
  const listener = a.net.createServer((s: NetSocket) => {
    const word = s.receiveTailWord();
    if (sampler === undefined && word !== undefined && word.buffer instanceof SharedArrayBuffer) sampler = DeliverySampler.start(word);
    s.on('data', (d: Buffer) => { arrivals.push({ t: performance.now(), n: d.length }); received += d.length; rxHash.update(d); });
    s.on('end', () => { ended = true; resolveEnd(); });
    s.on('error', () => { lost = true; resolveEnd(); });
    s.on('close', () => resolveEnd());
  });
  await new Promise<void>((r) => listener.listen(PORT, r));
  const restartsBefore = a.supervisor.recoveries.length;
  try {
    await sender.start();
  } catch (e) {
    listener.close();
    throw e;
  }
  const t0 = performance.now();
  let faultAt = Infinity;
  let runningAt = Infinity;

  await sleep(o.beforeMs);
  faultAt = performance.now();
  if (server !== 'none' && fault !== 'none') {
    const gen = a.supervisor.generation(server) + 1;
    a.supervisor.inject(server, fault);
    try {
      await a.supervisor.whenRunning(server, gen, 20_000);
      runningAt = performance.now();
    } catch {
      // Not restarted in time: the row shows the gap up to the stream's end.
    }
  }
  await sleep(o.afterMs);
  const tx = await sender.stop();
  await Promise.race([endSeen, sleep(10_000)]);
  const deliveries = (await sampler?.stop()) ?? [];
  sender.dispose();
  listener.close();
  const sent = tx.sent;
  if (tx.lost) lost = true;

  const intact = ended && !lost && received === sent && rxHash.digest('hex') === tx.sha256;
  const end = Math.max(performance.now(), runningAt);
  const times = arrivals.map((x) => x.t);
  let gap = gapAfter(times, faultAt);
  if (!ended || lost) gap = Math.max(gap, end - Math.max(faultAt, arrivals.at(-1)?.t ?? faultAt));
  const buckets: number[] = [];
  for (const { t, n } of arrivals) {
    const i = Math.floor((t - t0) / BUCKET_MS);
    while (buckets.length <= i) buckets.push(0);
    buckets[i]! += n;
  }
  const rec = a.supervisor.recoveries.slice(restartsBefore).find((r) => r.server === server);
  // The death and the successor's start on this clock (the supervisor's is process.hrtime's).
  const shift = monotonicMs() - performance.now();
  // A baseline row's reference: the gap around the instant the fault would have come.
  const deathAt = server === 'none' ? faultAt : rec === undefined ? NaN : rec.downAt - shift;
  const upAt = server === 'none' ? faultAt : rec === undefined || Number.isNaN(rec.runningAt) ? end : rec.runningAt - shift;
  // The longest gap that overlaps the time the server was down (death to successor running).
  const deathGap = gapOver(times, t0, end, deathAt, upAt);
  // The same two gaps where the stack delivered (monotonic clock: shift to performance.now()'s).
  const delivered = deliveries.map((x) => x.t - shift);
  const deliveryGap = delivered.length > 0 ? gapAfter(delivered, faultAt) : NaN;
  const deliveryDeathGap = delivered.length > 0 ? gapOver(delivered, t0, end, deathAt, upAt) : NaN;
  return {
    server, fault, link: sender.link,
    gapMs: Math.round(gap * 10) / 10,
    deathGapMs: Math.round(deathGap * 10) / 10,
    deliveryGapMs: Math.round(deliveryGap * 10) / 10,
    deliveryDeathGapMs: Math.round(deliveryDeathGap * 10) / 10,
    bytesLost: intact ? 0 : Math.max(sent - received, received === sent ? sent : 0),
    connectionsLost: ended && !lost ? 0 : 1,
    peerRetransmits: tx.retransmits,
    restartMs: rec === undefined || Number.isNaN(rec.runningAt) ? NaN : Math.round((rec.runningAt - rec.downAt) * 10) / 10,
    firstMessageMs: rec === undefined || !Number.isFinite(rec.recoveryMs) ? NaN : Math.round(rec.recoveryMs * 10) / 10,
    standby: rec?.standby === true,
    bytesSent: sent, bytesReceived: received,
    goodput: buckets, faultAtMs: faultAt - t0,
  };
}

/**
 * The longest interval between consecutive times from `from` on, the one that spans `from`
 * included (from the last time before it; from `from` itself when there is none): a gap
 * that began just before the fault is a gap around the fault, and gapOver, which measures
 * the gap at the death, counts it too, so gapMs is never the smaller of the two.
 */
function gapAfter(times: readonly number[], from: number): number {
  let gap = 0;
  let last = from;
  for (const t of times) {
    if (t < from) { last = t; continue; }
    gap = Math.max(gap, t - last);
    last = t;
  }
  return gap;
}

/**
 * The longest interval between consecutive times (after `from`, up to `end`) that overlaps
 * [downAt, upAt]: the gap a server's death caused. NaN when no death was seen.
 */
function gapOver(times: readonly number[], from: number, end: number, downAt: number, upAt: number): number {
  if (Number.isNaN(downAt)) return NaN;
  let gap = 0;
  let prev = from;
  for (const t of [...times, end]) {
    if (t < from) continue;
    if (t >= downAt && prev <= upAt) gap = Math.max(gap, t - prev);
    prev = t;
    if (prev >= upAt) break;
  }
  return gap;
}

/** Runs every server × fault row on one pair of hosts (a fresh stream per row). */
export async function runFaultExperiment(options: FaultExperimentOptions = {}): Promise<FaultExperimentResult> {
  const servers = options.servers ?? EXPERIMENT_SERVERS;
  const faults = options.faults ?? EXPERIMENT_FAULTS;
  const o = { rateBytesPerSec: options.rateBytesPerSec ?? 50e6, beforeMs: options.beforeMs ?? 500, afterMs: options.afterMs ?? 1000 };
  const tapWhy = tapRowsUnavailable();
  const links = options.links ?? (tapWhy === '' ? EXPERIMENT_LINKS : ['vswitch']);
  if (links.includes('tap') && tapWhy !== '') throw new NewtosError('ERR_EXPERIMENT_LINK', `the TAP rows need root and iproute2 (${tapWhy})`);
  const repeat = options.repeat ?? 1;
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 1000) throw new NewtosError('ERR_INVALID_ARG_VALUE', `repeat must be an integer from 1 to 1000, not ${repeat}`);
  const rows: FaultRow[] = [];
  const runRows = async (a: Stack, sender: () => RowSender): Promise<void> => {
    // An unrecorded first stream: each thread's JIT warms up on it (a first row moved ~30 % less
    // than the rows after it, the sender falling behind its pace).
    await runRow(a, sender(), 'none', 'none', { ...o, beforeMs: Math.min(o.beforeMs, 300), afterMs: Math.min(o.afterMs, 300) });
    const kinds: [ExperimentServer | 'none', ExperimentFault | 'none'][] = options.baseline === true ? [['none', 'none']] : [];
    for (const server of servers) for (const fault of faults) kinds.push([server, fault]);
    for (const [server, fault] of kinds) {
      for (let k = 0; k < repeat; k++) {
        const row = await runRow(a, sender(), server, fault, o);
        rows.push(row);
        options.progress?.(rowLine(row));
      }
    }
  };
  // One allow rule: a filter that decides nothing is not asked, and PF's faults would not show.
  // Every injected fault counts toward the crash-loop limit (restart.maxRestarts, 5 in 10 s by
  // default): rows 1.5 s apart would have a repeated server given up at its sixth.
  const common = {
    placement: options.placement ?? 'isolated', filter: 'default allow\nallow',
    restart: { maxRestarts: Math.max(5, repeat * faults.length + 5) },
  } as const;
  if (links.includes('vswitch')) {
    const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
    const host = (name: string, ip: string, placement: string): Promise<Stack> => createStack({
      name, ...common, placement, interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
    }, { switches: { sw0: sw } });
    const a = await host('a', '10.0.0.1/24', common.placement);
    try {
      const b = await host('b', '10.0.0.2/24', options.senderPlacement ?? 'grouped');
      try {
        await runRows(a, () => vswitchSender(b, o.rateBytesPerSec));
      } finally {
        await b.close();
      }
    } finally {
      await a.close();
    }
  }
  if (links.includes('tap')) {
    const rig = new TapRig();
    try {
      rig.create();
      const a = await createStack({ name: 'a', ...common, interfaces: [{ name: 'eth0', link: { type: 'tap', device: rig.dev }, addresses: [`${TAP_NEWTOS_IP}/24`] }] });
      try {
        rig.attach();
        await runRows(a, () => tapSender(rig, o.rateBytesPerSec));
      } finally {
        await a.close();
      }
    } finally {
      rig.close();
    }
  }
  return { rows, bucketMs: BUCKET_MS };
}

export function rowLine(r: FaultRow): string {
  const restart = r.server === 'none' ? `no fault (baseline), gap at the would-be fault ${r.deathGapMs} ms` : Number.isNaN(r.restartMs) ? 'no restart seen' : `restarted in ${r.restartMs} ms${r.standby ? ' (standby)' : ''}, gap at the death ${r.deathGapMs} ms (${Number.isNaN(r.deliveryDeathGapMs) ? '-' : r.deliveryDeathGapMs} ms where the stack delivers)`;
  const outcome = r.connectionsLost === 0 && r.bytesLost === 0 ? 'transfer intact' : `connection ${r.connectionsLost ? 'LOST' : 'kept'}, ${r.bytesLost} bytes lost`;
  return `${r.server.padEnd(6)} ${r.fault.padEnd(5)} ${r.link.padEnd(7)} → ${restart}, gap ${r.gapMs} ms, ${outcome}, ${r.peerRetransmits} retransmissions by the peer`;
}

/** The table as text, one row per server and fault. */
export function faultTable(result: FaultExperimentResult): string {
  const head = ['server', 'fault', 'link', 'gap ms', 'death gap ms', 'stack gap ms', 'stack death gap ms', 'restart ms', '1st msg ms', 'bytes lost', 'conns lost', 'peer rexmit', 'MB moved'];
  const ms = (v: number): string => Number.isNaN(v) ? '-' : v.toFixed(1);
  return textTable(head, result.rows.map((r) => [r.server, r.fault, r.link, r.gapMs.toFixed(1), ms(r.deathGapMs), ms(r.deliveryGapMs), ms(r.deliveryDeathGapMs), ms(r.restartMs), ms(r.firstMessageMs),
    String(r.bytesLost), String(r.connectionsLost), String(r.peerRetransmits), (r.bytesReceived / 1e6).toFixed(1)]));
}

/** Right-aligned columns under `head`, two spaces apart. */
function textTable(head: readonly string[], lines: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: readonly string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  return [fmt(head), ...lines.map(fmt)].join('\n');
}

/** One server, fault and link over its repeated rows. */
export interface FaultSummary {
  readonly server: ExperimentServer | 'none';
  readonly fault: ExperimentFault | 'none';
  readonly link: ExperimentLink;
  readonly runs: number;
  /** Death gaps (baseline: gaps at the would-be fault), ms: median, 90th percentile (nearest rank), largest. */
  readonly deathGapP50Ms: number;
  readonly deathGapP90Ms: number;
  readonly deathGapMaxMs: number;
  /** The same where the stack delivers (NaN where not watched). */
  readonly stackDeathGapP50Ms: number;
  readonly stackDeathGapMaxMs: number;
  /** Runs whose death gap was at most 10 ms. */
  readonly deathGapsUpTo10Ms: number;
  readonly restartP50Ms: number;
  readonly bytesLost: number;
  readonly connectionsLost: number;
}

function quantile(values: readonly number[], q: number): number {
  const v = values.filter((x) => !Number.isNaN(x)).sort((x, y) => x - y);
  if (v.length === 0) return NaN;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))]!;
}

/** The rows grouped by server, fault and link, in the order they ran. */
export function faultSummary(result: FaultExperimentResult): FaultSummary[] {
  const groups = new Map<string, FaultRow[]>();
  for (const r of result.rows) {
    const key = `${r.server}/${r.fault}/${r.link}`;
    const g = groups.get(key);
    if (g === undefined) groups.set(key, [r]); else g.push(r);
  }
  return [...groups.values()].map((g) => {
    const d = g.map((r) => r.deathGapMs);
    const sd = g.map((r) => r.deliveryDeathGapMs);
    return {
      server: g[0]!.server, fault: g[0]!.fault, link: g[0]!.link, runs: g.length,
      deathGapP50Ms: quantile(d, 0.5), deathGapP90Ms: quantile(d, 0.9), deathGapMaxMs: quantile(d, 1),
      stackDeathGapP50Ms: quantile(sd, 0.5), stackDeathGapMaxMs: quantile(sd, 1),
      deathGapsUpTo10Ms: d.filter((x) => x <= 10).length,
      restartP50Ms: quantile(g.map((r) => r.restartMs), 0.5),
      bytesLost: g.reduce((n, r) => n + r.bytesLost, 0),
      connectionsLost: g.reduce((n, r) => n + r.connectionsLost, 0),
    };
  });
}

/** The summary as text, one line per server, fault and link. */
export function summaryTable(summary: readonly FaultSummary[]): string {
  const head = ['server', 'fault', 'link', 'runs', 'death gap p50', 'p90', 'max', '<=10 ms', 'stack p50', 'stack max', 'restart p50', 'bytes lost', 'conns lost'];
  const ms = (v: number): string => Number.isNaN(v) ? '-' : v.toFixed(1);
  return textTable(head, summary.map((x) => [x.server, x.fault, x.link, String(x.runs), ms(x.deathGapP50Ms), ms(x.deathGapP90Ms), ms(x.deathGapMaxMs), `${x.deathGapsUpTo10Ms}/${x.runs}`,
    ms(x.stackDeathGapP50Ms), ms(x.stackDeathGapMaxMs), ms(x.restartP50Ms), String(x.bytesLost), String(x.connectionsLost)]));
}

/** Goodput of every row as small multiples: Mbit/s per 10 ms bucket, the fault as a red line. */
export function faultSvg(result: FaultExperimentResult, title = 'newtos: goodput around injected faults (10 ms buckets)'): string {
  const cols = 3;
  const w = 300;
  const h = 110;
  const pad = 30;
  const rows = result.rows;
  const height = Math.ceil(rows.length / cols) * (h + pad) + 40;
  const width = cols * (w + pad) + pad;
  const maxBytes = Math.max(1, ...rows.flatMap((r) => r.goodput));
  const mbit = (bytes: number): number => (bytes * 8) / (result.bucketMs * 1e3);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${pad}" y="20" font-size="14">${escapeXml(title)}</text>`,
  ];
  rows.forEach((r, i) => {
    const x0 = pad + (i % cols) * (w + pad);
    const y0 = 40 + Math.floor(i / cols) * (h + pad);
    const n = Math.max(r.goodput.length, 1);
    const px = (k: number): number => x0 + (k / n) * w;
    const py = (v: number): number => y0 + h - (v / maxBytes) * (h - 15);
    const points = r.goodput.map((v, k) => `${px(k).toFixed(1)},${py(v).toFixed(1)}`).join(' ');
    const fx = px(r.faultAtMs / result.bucketMs);
    const ok = r.connectionsLost === 0 && r.bytesLost === 0;
    parts.push(
      `<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="none" stroke="#999"/>`,
      `<text x="${x0 + 4}" y="${y0 + 12}">${escapeXml(`${r.server} ${r.fault}: gap ${r.gapMs} ms, ${ok ? 'intact' : 'LOST'}`)}</text>`,
      `<polyline fill="none" stroke="#1f5fbf" stroke-width="1" points="${points}"/>`,
      `<line x1="${fx.toFixed(1)}" y1="${y0}" x2="${fx.toFixed(1)}" y2="${y0 + h}" stroke="#d02020"/>`,
      `<text x="${x0 + w - 4}" y="${y0 + h + 12}" text-anchor="end" fill="#555">${(n * result.bucketMs / 1000).toFixed(1)} s, peak ${mbit(maxBytes).toFixed(0)} Mbit/s</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export const EXPERIMENT_USAGE = `newtos experiment faults [--servers pf,ip,driver,udp,sock,tcp] [--faults crash,hang,exit]
                         [--links vswitch,tap] [--rate-mbit N] [--placement isolated|monolithic]
                         [--sender-placement grouped|isolated|monolithic] [--baseline]
                         [--repeat N] [--svg FILE] [--json]`;

/** `newtos experiment faults ...`: prints the table (or JSON), writes the SVG (and a PNG where ImageMagick is). */
export async function runExperimentCommand(args: readonly string[], fail: (message: string) => never): Promise<number> {
  const { parseArgs } = await import('node:util');
  const [kind, ...rest] = args;
  if (kind !== 'faults') fail(`experiment: the only experiment is 'faults', not '${kind ?? ''}'`);
  const { values } = parseArgs({
    args: rest, strict: true,
    options: { servers: { type: 'string' }, faults: { type: 'string' }, links: { type: 'string' }, 'rate-mbit': { type: 'string' }, placement: { type: 'string' }, 'sender-placement': { type: 'string' }, svg: { type: 'string' }, json: { type: 'boolean' }, baseline: { type: 'boolean' }, repeat: { type: 'string' } },
  });
  const list = <T extends string>(flag: string, text: string | undefined, all: readonly T[]): readonly T[] => {
    if (text === undefined) return all;
    const items = text.split(',').filter((x) => x !== '');
    const bad = items.filter((x) => !(all as readonly string[]).includes(x));
    if (bad.length > 0 || items.length === 0) fail(`--${flag} takes a comma-separated list of ${all.join(', ')}; not '${text}'`);
    return items as T[];
  };
  const servers = list('servers', values.servers, EXPERIMENT_SERVERS);
  const faults = list('faults', values.faults, EXPERIMENT_FAULTS);
  const tapWhy = tapRowsUnavailable();
  const links = list('links', values.links, EXPERIMENT_LINKS);
  const chosen: readonly ExperimentLink[] = values.links !== undefined ? links : tapWhy === '' ? EXPERIMENT_LINKS : ['vswitch'];
  if (chosen.includes('tap') && tapWhy !== '') fail(`--links tap needs root and iproute2 (${tapWhy})`);
  const rate = values['rate-mbit'] === undefined ? 400 : Number(values['rate-mbit']);
  if (!Number.isFinite(rate) || rate <= 0 || rate > 100_000) fail(`--rate-mbit must be a number from 1 to 100000, not '${values['rate-mbit']}'`);
  const placement = values.placement ?? 'isolated';
  if (placement !== 'isolated' && placement !== 'monolithic') fail(`--placement must be isolated or monolithic, not '${placement}'`);
  const senderPlacement = values['sender-placement'] ?? 'grouped';
  if (senderPlacement !== 'grouped' && senderPlacement !== 'isolated' && senderPlacement !== 'monolithic') {
    fail(`--sender-placement must be grouped, isolated or monolithic, not '${senderPlacement}'`);
  }
  const repeat = values.repeat === undefined ? 1 : Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 1000) fail(`--repeat must be an integer from 1 to 1000, not '${values.repeat}'`);
  const json = values.json === true;
  const say = (line: string): void => { if (!json) process.stdout.write(`${line}\n`); };
  const peers = chosen.map((l) => l === 'vswitch' ? `from a second newtos host (${senderPlacement}) on the virtual switch` : 'from Linux over TAP').join(', then ');
  say(`newtos experiment faults: a ${rate} Mbit/s TCP stream per row ${peers}, the fault injected into the receiving newtos host (${placement})`);
  if (values.links === undefined && tapWhy !== '') say(`(no TAP rows: ${tapWhy})`);
  const result = await runFaultExperiment({ servers, faults, links: chosen, rateBytesPerSec: (rate * 1e6) / 8, placement, senderPlacement, baseline: values.baseline === true, repeat, progress: say });
  const summary = faultSummary(result);
  const svgPath = values.svg ?? 'newtos-faults.svg';
  const { writeFileSync } = await import('node:fs');
  writeFileSync(svgPath, faultSvg(result));
  const png = await toPng(svgPath);
  if (json) {
    const rows = result.rows.map(({ goodput: _g, faultAtMs: _f, ...r }) => ({ ...r, restartMs: Number.isNaN(r.restartMs) ? null : r.restartMs, firstMessageMs: Number.isNaN(r.firstMessageMs) ? null : r.firstMessageMs, deathGapMs: Number.isNaN(r.deathGapMs) ? null : r.deathGapMs,
      deliveryGapMs: Number.isNaN(r.deliveryGapMs) ? null : r.deliveryGapMs, deliveryDeathGapMs: Number.isNaN(r.deliveryDeathGapMs) ? null : r.deliveryDeathGapMs }));
    const nulls = (x: FaultSummary): Record<string, unknown> => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, typeof v === 'number' && Number.isNaN(v) ? null : v]));
    process.stdout.write(`${JSON.stringify({ rows, summary: summary.map(nulls), svg: svgPath, png })}\n`);
  } else {
    say(faultTable(result));
    if (repeat > 1) say(`\nover ${repeat} runs each (death gap: no data across the server's death to its successor running; baseline: across the instant a fault would have come):\n${summaryTable(summary)}`);
    say(`graph: ${svgPath}${png !== null ? ` and ${png}` : ''}`);
  }
  return result.rows.every((r) => r.connectionsLost === 0 && r.bytesLost === 0) ? 0 : 1;
}

/** SVG → PNG with ImageMagick's convert where it is installed; null otherwise. */
async function toPng(svgPath: string): Promise<string | null> {
  const { spawnSync } = await import('node:child_process');
  const version = spawnSync('convert', ['-version'], { encoding: 'utf8' });
  if (version.status !== 0 || !version.stdout.includes('ImageMagick')) return null;
  const png = svgPath.replace(/\.svg$/, '') + '.png';
  const r = spawnSync('convert', [svgPath, png], { encoding: 'utf8' });
  return r.status === 0 ? png : null;
}
