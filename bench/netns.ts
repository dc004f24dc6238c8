/**
 * The benches' Linux rigs (root): a pair of network namespaces joined by a veth, and a
 * namespace holding the kernel's end of a TAP device that `newtos up` runs on. Each gives
 * back a close() that removes what it made; every name carries a random tag, so runs never
 * meet each other's leftovers.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { LineReader } from './stack-tap.js';

export const ipCmd = (...args: string[]): void => { execFileSync('ip', args, { stdio: 'ignore' }); };

/** Two namespaces over a veth: n1 holds `${net}.1/24`, n2 `${net}.2/24` (net: three octets, e.g. '10.97.0'). */
export interface VethPair {
  readonly n1: string;
  readonly n2: string;
  close(): void;
}

export function vethPair(prefix: string, net: string): VethPair {
  const tag = randomBytes(3).toString('hex');
  const n1 = `${prefix}1${tag}`; const n2 = `${prefix}2${tag}`;
  const d1 = `${prefix.slice(0, 3)}a${tag}`; const d2 = `${prefix.slice(0, 3)}b${tag}`;
  const close = (): void => {
    try { ipCmd('netns', 'del', n1); } catch { /* gone */ }
    try { ipCmd('netns', 'del', n2); } catch { /* gone */ }
  };
  try {
    ipCmd('netns', 'add', n1); ipCmd('netns', 'add', n2);
    ipCmd('link', 'add', d1, 'netns', n1, 'type', 'veth', 'peer', 'name', d2, 'netns', n2);
    ipCmd('-n', n1, 'addr', 'add', `${net}.1/24`, 'dev', d1); ipCmd('-n', n2, 'addr', 'add', `${net}.2/24`, 'dev', d2);
    for (const [ns, dev] of [[n1, d1], [n2, d2]] as const) { ipCmd('-n', ns, 'link', 'set', dev, 'up'); ipCmd('-n', ns, 'link', 'set', 'lo', 'up'); }
  } catch (e) {
    close();
    throw e;
  }
  return { n1, n2, close };
}

/**
 * `newtos up --tap DEV --ip ${net}.2/24 ...args` with DEV's kernel end (`${net}.1/24`) in a
 * namespace of its own (`ns`), started and waited for ("up"); `lines` are what it printed
 * before. close() stops it (SIGTERM, then SIGKILL) and removes the namespace.
 */
export interface TapUp {
  readonly ns: string;
  readonly child: ChildProcess;
  readonly lines: readonly string[];
  close(): Promise<void>;
}

export async function tapUp(prefix: string, net: string, args: readonly string[]): Promise<TapUp> {
  const tag = randomBytes(3).toString('hex');
  const ns = `${prefix}${tag}`; const dev = `${prefix}${tag}`;
  let child: ChildProcess | undefined;
  const close = async (): Promise<void> => {
    child?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    child?.kill('SIGKILL');
    try { ipCmd('netns', 'del', ns); } catch { /* gone */ }
  };
  try {
    ipCmd('netns', 'add', ns); ipCmd('-n', ns, 'link', 'set', 'lo', 'up');
    ipCmd('-n', ns, 'tuntap', 'add', 'dev', dev, 'mode', 'tap');
    ipCmd('-n', ns, 'addr', 'add', `${net}.1/24`, 'dev', dev); ipCmd('-n', ns, 'link', 'set', dev, 'up');
    const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
    child = spawn('ip', ['netns', 'exec', ns, process.execPath, cli, 'up', '--tap', dev, '--ip', `${net}.2/24`, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    const reader = new LineReader(child);
    const lines: string[] = [];
    for (;;) {
      const line = await reader.next(30_000);
      lines.push(line);
      if (/: up \(/.test(line)) break;
    }
    return { ns, child, lines, close };
  } catch (e) {
    await close();
    throw e;
  }
}
