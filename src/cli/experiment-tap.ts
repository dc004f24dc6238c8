/**
 * The Linux side of `newtos experiment faults` over TAP (root only): a network namespace
 * of the experiment's own holding the kernel's end of the receiving host's TAP device,
 * and in it a Node process that streams to newtos through the kernel's TCP, paced as the
 * virtual-switch rows are (a write per millisecond, numbered in its first 8 bytes), hashing what
 * it wrote and counting its kernel's retransmissions (/proc/net/snmp of the namespace).
 *
 *   newtos (10.98.0.1) ── TAP fd ══ DEV (10.98.0.2, in NS) ── Linux sender
 *
 * Everything it makes is removed by `close()`, also after a failure; only addresses in
 * the namespace it made are ever sent to.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export const TAP_NEWTOS_IP = '10.98.0.1';
export const TAP_LINUX_IP = '10.98.0.2';

/** Why the TAP rows cannot run here ('' when they can): root, `ip` and namespaces are needed. */
export function tapRowsUnavailable(): string {
  if (process.platform !== 'linux') return 'not Linux';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not root';
  const v = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (v.error !== undefined || v.status !== 0) return "the 'ip' command (iproute2) is missing";
  return '';
}

/** The sender: node -e SENDER_JS HOST PORT BYTES_PER_SEC CHUNK_BYTES. Stops on stdin's end; prints its result as JSON. */
const SENDER_JS = `
const net = require('node:net'); const crypto = require('node:crypto'); const fs = require('node:fs');
const [host, port, rate, chunk] = process.argv.slice(1);
const retrans = () => { const l = fs.readFileSync('/proc/net/snmp', 'utf8').split('\\n').filter((x) => x.startsWith('Tcp:'));
  const k = l[0].split(/\\s+/).indexOf('RetransSegs'); return Number(l[1].split(/\\s+/)[k]); };
const CHUNK = Number(chunk); const pattern = Buffer.alloc(CHUNK); const hash = crypto.createHash('sha256');
let sent = 0, seq = 0, stop = false, error = null; const r0 = retrans();
const s = net.connect({ host, port: Number(port), noDelay: true }); // no Nagle: each write leaves at once
s.on('error', (e) => { error = e.code || e.message; stop = true; });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
s.once('connect', async () => {
  process.stdout.write('connected\\n');
  const t0 = performance.now();
  while (!stop) {
    const due = t0 + ((sent + CHUNK) / Number(rate)) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await sleep(Math.min(wait, 20));
    if (performance.now() < due) continue;
    pattern.writeUInt32BE(seq++, 0); pattern.writeUInt32BE(sent >>> 0, 4);
    hash.update(pattern); sent += CHUNK;
    if (!s.write(Buffer.from(pattern))) await new Promise((r) => { s.once('drain', r); s.once('close', r); });
  }
  s.end();
  s.once('close', () => process.stdout.write(JSON.stringify({ sent, sha256: hash.digest('hex'), retransmits: retrans() - r0, error }) + '\\n'));
});
process.stdin.on('data', () => {}); process.stdin.on('end', () => { stop = true; });
`;

export interface TapSenderResult {
  readonly sent: number;
  readonly sha256: string;
  readonly retransmits: number;
  readonly error: string | null;
}

/** The experiment's namespace and the kernel's end of the TAP device newtos opened. */
export class TapRig {
  readonly ns = `ntos-exp-${randomBytes(3).toString('hex')}`;
  readonly dev = `ntexp${randomBytes(3).toString('hex')}`;
  private made = false;

  /** Creates the namespace (before the host opens the TAP device). */
  create(): void {
    execFileSync('ip', ['netns', 'add', this.ns]);
    this.made = true;
    execFileSync('ip', ['-n', this.ns, 'link', 'set', 'lo', 'up']);
  }

  /** Moves the TAP device newtos opened into the namespace, with the Linux address, up. */
  attach(): void {
    execFileSync('ip', ['link', 'set', this.dev, 'netns', this.ns]);
    execFileSync('ip', ['-n', this.ns, 'addr', 'add', `${TAP_LINUX_IP}/24`, 'dev', this.dev]);
    execFileSync('ip', ['-n', this.ns, 'link', 'set', this.dev, 'up']);
  }

  /** Starts a paced stream from Linux to newtos:port; resolves once it is connected. */
  async startSender(port: number, bytesPerSec: number, chunkBytes: number): Promise<TapSender> {
    const child = spawn('ip', ['netns', 'exec', this.ns, process.execPath, '-e', SENDER_JS, TAP_NEWTOS_IP, String(port), String(bytesPerSec), String(chunkBytes)],
      { stdio: ['pipe', 'pipe', 'pipe'] });
    const sender = new TapSender(child);
    await sender.connected();
    return sender;
  }

  close(): void {
    if (this.made) spawnSync('ip', ['netns', 'del', this.ns]);
    this.made = false;
  }
}

export class TapSender {
  private out = '';
  private readonly exited: Promise<void>;

  constructor(private readonly child: ChildProcess) {
    child.stdout!.on('data', (b: Buffer) => { this.out += b.toString('utf8'); });
    child.stderr!.on('data', (b: Buffer) => { this.out += b.toString('utf8'); });
    child.on('error', (e) => { this.out += `\n${e.message}`; });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Bounded: 10 s to connect. */
  async connected(): Promise<void> {
    const t0 = Date.now();
    while (!this.out.includes('connected\n')) {
      if (this.child.exitCode !== null || Date.now() - t0 > 10_000) {
        this.child.kill('SIGKILL');
        throw new Error(`the Linux sender did not connect: ${this.out.trim() || 'no output'}`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Stops the stream (the sender closes its end) and returns what it sent; bounded: 20 s. */
  async stop(): Promise<TapSenderResult> {
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
    await this.exited;
    clearTimeout(timer);
    const line = this.out.split('\n').find((l) => l.startsWith('{'));
    if (line === undefined) return { sent: 0, sha256: '', retransmits: 0, error: `no result from the Linux sender: ${this.out.trim()}` };
    return JSON.parse(line) as TapSenderResult;
  }
}
