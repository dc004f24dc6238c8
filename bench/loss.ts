/**
 * bench:loss — one bulk TCP transfer through an impaired link, newtos ⇄ newtos
 * and Linux ⇄ Linux (CUBIC, BBR), all through the same impairing link
 * (`newtos impair`, the same code and seed for every row):
 *
 *   newtos A 10.66.0.11 ─ TAP ─┐ nsA: br0 10.66.0.1 (Linux A) ┌─ ia ⇄ newtos impair ⇄ ib ─┐ nsB: br0 10.66.0.2 (Linux B) ┌─ TAP ─ newtos B 10.66.0.12
 *
 * Scenarios (the issue's): loss 5 % + reorder 25 % + delay 2 ms, and loss 1 % +
 * delay 50 ms, each way. Per row: the receiver's time (first byte to end), the
 * sender's retransmissions, the frames the link carried and lost from sender to
 * receiver, and the spurious share: (retransmissions - frames lost) / frames
 * sent (the issue's measure; a lost retransmission counts as a real one; frames
 * as the link counted them, since newtos's own segment count counts a burst the
 * driver cuts as one). newtos rows also give the retransmissions its D-SACKs
 * showed spurious.
 *
 * `--json` prints one JSON line with `time_ratio_vs_linux_bbr` (newtos time / Linux
 * BBR time, worst scenario; newtos's default, BBR) and `spurious_retransmit_pct`
 * (the same rows), and the same for newtos with CUBIC (`..._cubic`) and with BBR
 * and RACK (`..._rack`). `--size MB` (default 50), `--senders
 * newtos,newtos-cubic,newtos-rack,linux-cubic,linux-bbr` (default all five), `--smoke` (1 MB, first scenario with 20 ms instead
 * of 50, for test/bench/smoke.test.ts), `--timeout S` per transfer (default 300).
 * Needs root (namespaces, TAP devices), the TAP addon and a kernel with bbr;
 * otherwise every row is null with a note. Everything made is removed again.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createStack, type Stack } from '../src/stack/host.js';
import { loadTapAddon } from '../src/driver/nic/tap.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const smoke = args.includes('--smoke');
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!(v > 0)) throw new Error(`${name} needs a positive number`);
  return v;
};
const SIZE = Math.round(flag('--size', smoke ? 1 : 50) * 1024 * 1024);
const TIMEOUT_MS = flag('--timeout', smoke ? 60 : 300) * 1000;
const log = (s: string): void => { if (!json) console.log(s); };
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const PORT = 5001;

interface Scenario { readonly name: string; readonly impair: string[] }
const SCENARIOS: Scenario[] = smoke
  ? [{ name: 'loss5_reorder25_delay2ms', impair: ['--loss', '5%', '--reorder', '25%', '--delay', '2'] }]
  : [
    { name: 'loss5_reorder25_delay2ms', impair: ['--loss', '5%', '--reorder', '25%', '--delay', '2'] },
    { name: 'loss1_delay50ms', impair: ['--loss', '1%', '--delay', '50'] },
  ];
type Sender = 'newtos' | 'newtos-cubic' | 'newtos-rack' | 'linux-cubic' | 'linux-bbr';
const ALL_SENDERS: Sender[] = ['newtos', 'newtos-cubic', 'newtos-rack', 'linux-cubic', 'linux-bbr'];
/** `--senders newtos,linux-bbr`: only these rows (default all). */
const SENDERS: Sender[] = (() => {
  const i = args.indexOf('--senders');
  if (i < 0) return ALL_SENDERS;
  const want = (args[i + 1] ?? '').split(',');
  for (const w of want) if (!ALL_SENDERS.includes(w as Sender)) throw new Error(`--senders: unknown '${w}' (newtos, newtos-cubic, newtos-rack, linux-cubic, linux-bbr)`);
  return want as Sender[];
})();

interface Row {
  scenario: string;
  sender: Sender;
  seconds: number | null;
  segments_out: number | null;
  retransmits: number | null;
  /** Frames lost from sender to receiver: by the bridge, and dropped by the kernel at its TAPs (tap_drops). */
  lost_frames: number | null;
  tap_drops?: number | null;
  spurious_retransmit_pct: number | null;
  dsack_spurious_retransmits?: number;
  /** newtos: retransmission timeouts, fast recoveries, recoveries undone by D-SACK, lost retransmissions found. */
  newtos_counters?: { rto_timeouts: number; fast_recoveries: number; undone: number; lost_retransmits: number };
  note?: string;
}

function sh(argv: string[], allowFail = false): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  } catch (e) {
    if (allowFail) return '';
    throw new Error(`${argv.join(' ')}: ${(e as { stderr?: string }).stderr ?? (e as Error).message}`);
  }
}

function unavailable(): string {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, TAP devices)';
  try { loadTapAddon(); } catch (e) { return (e as Error).message; }
  try { sh(['ip', '-V']); } catch { return 'needs iproute2 (ip)'; }
  try {
    if (!sh(['cat', '/proc/sys/net/ipv4/tcp_available_congestion_control']).split(/\s+/).includes('bbr')) return 'the kernel offers no bbr';
  } catch { return 'cannot read tcp_available_congestion_control'; }
  return '';
}

/** Linux's TCP counters in a namespace (/proc/net/snmp is per namespace). */
function linuxTcp(ns: string): { retrans: number } {
  const lines = sh(['ip', 'netns', 'exec', ns, 'cat', '/proc/net/snmp']).split('\n').filter((l) => l.startsWith('Tcp:'));
  const keys = lines[0]!.split(/\s+/);
  const vals = lines[1]!.split(/\s+/);
  return { retrans: Number(vals[keys.indexOf('RetransSegs')]) };
}

function newtosTcp(s: Stack): { retrans: number; spurious: number; rto: number; recoveries: number; undone: number; lostRtx: number } {
  const t = s.counters().tcp as Record<string, unknown>;
  const n = (k: string): number => (typeof t[k] === 'number' ? t[k] as number : 0);
  return {
    retrans: n('retransmits'), spurious: n('spuriousRetransmits'), rto: n('rtoTimeouts'), recoveries: n('sackRecoveries') + n('newRenoRecoveries'),
    undone: n('spuriousRecoveriesUndone'), lostRtx: n('lostRetransmits'),
  };
}

/** Starts `newtos impair` between two fresh TAPs, moves them into the bridges of nsA / nsB. */
async function startImpair(tag: string, nsA: string, nsB: string, impair: string[]): Promise<{ child: ChildProcess; a: string; b: string; out: () => string }> {
  const a = `ia${tag}`;
  const b = `ib${tag}`;
  const child = spawn(process.execPath, [CLI, 'impair', '--tap', a, '--tap', b, ...impair, '--seed', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const on = (d: Buffer): void => { out += d.toString(); if (/ up \(/.test(out)) resolve(); };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (c) => reject(new Error(`newtos impair exited with ${c}: ${out}`)));
  });
  for (const [dev, ns] of [[a, nsA], [b, nsB]] as const) {
    sh(['ip', 'link', 'set', dev, 'netns', ns]);
    sh(['ip', '-n', ns, 'link', 'set', dev, 'master', 'br0', 'up']);
  }
  return { child, a, b, out: () => out };
}

/** A counter of a device in a namespace (0 if unreadable). */
function devStat(ns: string, dev: string, name: string): number {
  const v = Number(sh(['ip', 'netns', 'exec', ns, 'cat', `/sys/class/net/${dev}/statistics/${name}`], true).trim());
  return Number.isFinite(v) ? v : 0;
}

/**
 * Stops the bridge; frames it carried from A to B and the frames lost on the way: those
 * it dropped, plus those the kernel dropped at the TAPs around it (a full queue to the
 * bridge's TAP when the bridge falls behind, a full backlog behind the other), which are
 * real losses the sender must repair too.
 */
async function stopImpair(im: { child: ChildProcess; a: string; b: string; out: () => string }, nsA: string, nsB: string): Promise<{ frames: number; lost: number; tapDrops: number } | null> {
  const tapDrops = devStat(nsA, im.a, 'tx_dropped') + devStat(nsB, im.b, 'rx_dropped');
  const exited = new Promise<void>((r) => im.child.once('exit', () => r()));
  im.child.kill('SIGTERM');
  await exited;
  const line = im.out().trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (line === undefined) return null;
  const stats = JSON.parse(line) as Record<string, { frames: number; lost: number }>;
  const d = stats[`${im.a}>${im.b}`];
  return d === undefined ? null : { frames: d.frames, lost: d.lost + tapDrops, tapDrops };
}

/** Linux ⇄ Linux: a node receiver in nsB, a node sender in nsA with congestion control `cc`. */
async function linuxTransfer(nsA: string, nsB: string, cc: string): Promise<number | null> {
  // Per route (the namespace's sysctl may not be writable here): `ip route ... congctl`.
  sh(['ip', '-n', nsA, 'route', 'replace', '10.66.0.0/24', 'dev', 'br0', 'proto', 'kernel', 'scope', 'link', 'src', '10.66.0.1', 'congctl', cc]);
  const recv = `const net=require('net');let n=0,t0=0;const s=net.createServer(c=>{c.on('data',d=>{if(!t0)t0=performance.now();n+=d.length});`
    + `c.on('end',()=>{console.log(JSON.stringify({bytes:n,ms:performance.now()-t0}));process.exit(0)})});s.listen(${PORT},'10.66.0.2',()=>console.log('ready'))`;
  // Exit 2: the connection never came up (its SYNs lost on the impaired link: seen once at 1 % + 50 ms), so the
  // sender is started again; the receiver times from its first byte, so a retry does not count in the figure.
  const send = `const net=require('net');const b=Buffer.alloc(1<<20,90);let left=${SIZE},up=false;const c=net.connect(${PORT},'10.66.0.2',()=>{up=true;const p=()=>{while(left>0){const k=Math.min(left,b.length);left-=k;if(!c.write(k===b.length?b:b.subarray(0,k))){c.once('drain',p);return}}c.end()};p()});c.on('error',e=>{console.error(e.message);process.exit(up?1:2)})`;
  const r = spawn('ip', ['netns', 'exec', nsB, process.execPath, '-e', recv], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const result = new Promise<number | null>((resolve) => {
    r.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /\{.*\}/.exec(out);
      if (m !== null) {
        const j = JSON.parse(m[0]) as { bytes: number; ms: number };
        resolve(j.bytes === SIZE ? j.ms / 1000 : null);
      }
    });
    r.once('exit', () => resolve(null));
  });
  await new Promise<void>((resolve) => { const on = (): void => { if (out.includes('ready')) resolve(); else setTimeout(on, 20); }; on(); });
  let s: ChildProcess;
  let attempts = 0;
  const startSender = (): void => {
    attempts++;
    s = spawn('ip', ['netns', 'exec', nsA, process.execPath, '-e', send], { stdio: ['ignore', 'ignore', 'inherit'] });
    s.once('exit', (code) => { if (code === 2 && attempts < 3) startSender(); });
  };
  startSender();
  const timer = setTimeout(() => { r.kill('SIGKILL'); s.kill('SIGKILL'); }, TIMEOUT_MS);
  const secs = await result;
  clearTimeout(timer);
  if (s!.exitCode === null) s!.kill('SIGKILL');
  if (r.exitCode === null) r.kill('SIGKILL');
  return secs;
}

/** newtos A → newtos B, timed by the receiver (first byte to end). */
async function newtosTransfer(a: Stack, b: Stack, port: number): Promise<number | null> {
  let got = 0;
  let t0 = 0;
  let done: (v: number | null) => void = () => undefined;
  const finished = new Promise<number | null>((resolve) => { done = resolve; });
  const server = b.net.createServer((s) => {
    s.on('data', (c: Buffer) => { if (t0 === 0) t0 = performance.now(); got += c.length; });
    s.on('end', () => done(got === SIZE ? (performance.now() - t0) / 1000 : null));
    s.on('error', () => done(null));
  });
  await new Promise<void>((resolve) => server.listen(port, resolve));
  const client = a.net.connect({ port, host: '10.66.0.12' });
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  client.on('error', () => done(null));
  client.on('connect', () => {
    let sent = 0;
    const pump = (): void => {
      while (sent < SIZE) {
        const k = Math.min(chunk.length, SIZE - sent);
        sent += k;
        if (!client.write(k === chunk.length ? chunk : chunk.subarray(0, k))) { client.once('drain', pump); return; }
      }
      client.end();
    };
    pump();
  });
  const timer = setTimeout(() => done(null), TIMEOUT_MS);
  const r = await finished;
  clearTimeout(timer);
  client.destroy();
  server.close();
  return r;
}

const pct = (retrans: number, link: { frames: number; lost: number } | null): number | null =>
  link === null || link.frames === 0 ? null : Math.round((Math.max(0, retrans - link.lost) / link.frames) * 10000) / 100;

async function main(): Promise<void> {
  const why = unavailable();
  const rows: Row[] = [];
  const notes: string[] = [];
  if (why !== '') {
    for (const sc of SCENARIOS) for (const sender of SENDERS) {
      rows.push({ scenario: sc.name, sender, seconds: null, segments_out: null, retransmits: null, lost_frames: null, spurious_retransmit_pct: null, note: why });
    }
    notes.push(why);
  } else {
    const tag = randomBytes(2).toString('hex');
    const nsA = `ntloss-${tag}-a`;
    const nsB = `ntloss-${tag}-b`;
    const stacks: Stack[] = [];
    try {
      for (const [ns, ip] of [[nsA, '10.66.0.1/24'], [nsB, '10.66.0.2/24']] as const) {
        sh(['ip', 'netns', 'add', ns]);
        sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
        sh(['ip', '-n', ns, 'link', 'add', 'br0', 'type', 'bridge']);
        sh(['ip', '-n', ns, 'addr', 'add', ip, 'dev', 'br0']);
        sh(['ip', '-n', ns, 'link', 'set', 'br0', 'up']);
      }
      // The newtos hosts: a TAP each (plain frames, as they cross the bridge), its kernel end in a bridge.
      // a sends with the default (BBR), c with CUBIC, d with the default and RACK; b receives from all.
      for (const [name, ns, ip, cc, rack] of [['a', nsA, '10.66.0.11/24', undefined, false], ['b', nsB, '10.66.0.12/24', undefined, false], ['c', nsA, '10.66.0.13/24', 'cubic', false], ['d', nsA, '10.66.0.14/24', undefined, true]] as const) {
        const dev = `nt${tag}${name}`;
        const stack = await createStack({
          name, interfaces: [{ name: 'eth0', link: { type: 'tap', device: dev, vnetHeader: false }, addresses: [ip] }],
          tcp: { sendBufferBytes: 4 << 20, receiveBufferBytes: 4 << 20, ...(cc !== undefined ? { congestionControl: cc } : {}), rack },
        });
        stacks.push(stack);
        sh(['ip', 'link', 'set', dev, 'netns', ns]);
        sh(['ip', '-n', ns, 'link', 'set', dev, 'master', 'br0', 'up']);
      }
      let port = PORT + 1;
      for (const sc of SCENARIOS) {
        for (const sender of SENDERS) {
          const im = await startImpair(tag, nsA, nsB, sc.impair);
          let row: Row;
          if (sender === 'newtos' || sender === 'newtos-cubic' || sender === 'newtos-rack') {
            const from = stacks[sender === 'newtos' ? 0 : sender === 'newtos-cubic' ? 2 : 3]!;
            const before = newtosTcp(from);
            const secs = await newtosTransfer(from, stacks[1]!, port++);
            await new Promise((r) => setTimeout(r, 100)); // counters are published every ~20 ms
            const after = newtosTcp(from);
            const link = await stopImpair(im, nsA, nsB);
            const retrans = after.retrans - before.retrans;
            row = {
              scenario: sc.name, sender, seconds: secs, segments_out: link?.frames ?? null, retransmits: retrans, lost_frames: link?.lost ?? null, tap_drops: link?.tapDrops ?? null,
              spurious_retransmit_pct: pct(retrans, link), dsack_spurious_retransmits: after.spurious - before.spurious,
              newtos_counters: { rto_timeouts: after.rto - before.rto, fast_recoveries: after.recoveries - before.recoveries, undone: after.undone - before.undone, lost_retransmits: after.lostRtx - before.lostRtx },
            };
          } else {
            const before = linuxTcp(nsA);
            const secs = await linuxTransfer(nsA, nsB, sender === 'linux-bbr' ? 'bbr' : 'cubic');
            const after = linuxTcp(nsA);
            const link = await stopImpair(im, nsA, nsB);
            const retrans = after.retrans - before.retrans;
            row = { scenario: sc.name, sender, seconds: secs, segments_out: link?.frames ?? null, retransmits: retrans, lost_frames: link?.lost ?? null, tap_drops: link?.tapDrops ?? null, spurious_retransmit_pct: pct(retrans, link) };
          }
          if (row.seconds === null) row.note = `did not complete within ${TIMEOUT_MS / 1000} s`;
          rows.push(row);
          log(`${sc.name.padEnd(26)} ${sender.padEnd(12)} ${row.seconds === null ? 'n/a' : `${row.seconds.toFixed(2)} s`}  frames ${row.segments_out}  retransmitted ${row.retransmits}  lost ${row.lost_frames} (tap drops ${row.tap_drops})  spurious ${row.spurious_retransmit_pct ?? 'n/a'} %${row.dsack_spurious_retransmits !== undefined ? ` (D-SACK-detected ${row.dsack_spurious_retransmits})` : ''}${row.newtos_counters !== undefined ? `  ${JSON.stringify(row.newtos_counters)}` : ''}`);
        }
      }
    } finally {
      for (const s of stacks) await s.close().catch(() => undefined);
      for (const ns of [nsA, nsB]) sh(['ip', 'netns', 'del', ns], true);
    }
  }
  let ratio: number | null = null;
  let ratioCubic: number | null = null;
  let spuriousCubic: number | null = null;
  let spurious: number | null = null;
  let ratioRack: number | null = null;
  let spuriousRack: number | null = null;
  for (const sc of SCENARIOS) {
    const ntRack = rows.find((r) => r.scenario === sc.name && r.sender === 'newtos-rack');
    const nt = rows.find((r) => r.scenario === sc.name && r.sender === 'newtos');
    const ntCubic = rows.find((r) => r.scenario === sc.name && r.sender === 'newtos-cubic');
    const bbr = rows.find((r) => r.scenario === sc.name && r.sender === 'linux-bbr');
    if (nt?.seconds != null && bbr?.seconds != null) ratio = Math.max(ratio ?? 0, Math.round((nt.seconds / bbr.seconds) * 100) / 100);
    if (ntCubic?.seconds != null && bbr?.seconds != null) ratioCubic = Math.max(ratioCubic ?? 0, Math.round((ntCubic.seconds / bbr.seconds) * 100) / 100);
    if (ntCubic?.spurious_retransmit_pct != null) spuriousCubic = Math.max(spuriousCubic ?? 0, ntCubic.spurious_retransmit_pct);
    if (nt?.spurious_retransmit_pct != null) spurious = Math.max(spurious ?? 0, nt.spurious_retransmit_pct);
    if (ntRack?.seconds != null && bbr?.seconds != null) ratioRack = Math.max(ratioRack ?? 0, Math.round((ntRack.seconds / bbr.seconds) * 100) / 100);
    if (ntRack?.spurious_retransmit_pct != null) spuriousRack = Math.max(spuriousRack ?? 0, ntRack.spurious_retransmit_pct);
  }
  // time_ratio_vs_linux_bbr and spurious_retransmit_pct are newtos's default (BBR, like with like);
  // the cubic and rack keys are newtos with tcp.congestionControl 'cubic' (and tcp.rack).
  const result = { bench: 'loss', smoke, size_bytes: SIZE, time_ratio_vs_linux_bbr: ratio, spurious_retransmit_pct: spurious,
    time_ratio_newtos_cubic_vs_linux_bbr: ratioCubic, spurious_retransmit_pct_cubic: spuriousCubic,
    time_ratio_newtos_rack_vs_linux_bbr: ratioRack, spurious_retransmit_pct_rack: spuriousRack, rows, ...(notes.length > 0 ? { notes } : {}) };
  if (json) console.log(JSON.stringify(result));
  else log(`time_ratio_vs_linux_bbr ${ratio ?? 'n/a'} (worst)  spurious_retransmit_pct ${spurious ?? 'n/a'} (worst, newtos)`);
}

main().then(() => process.exit(0), (e: unknown) => {
  console.error(e);
  process.exit(1);
});
