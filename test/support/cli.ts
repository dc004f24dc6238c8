// Running the newtos command line from tests: free loopback ports, a long-running
// command awaited until it says it is ready, a short one run to its exit.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/**
 * `script` as a module file, removed after the test (not `node --input-type=module -e`:
 * worker threads inherit that flag and fail to start).
 */
export function scriptFile(t: { after: (fn: () => void) => void }, script: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'newtos-script-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'script.mjs');
  writeFileSync(file, script);
  return file;
}

/** `n` UDP ports on 127.0.0.1 that were free a moment ago. */
export async function freeUdpPorts(n: number): Promise<number[]> {
  const socks = Array.from({ length: n }, () => createSocket('udp4'));
  for (const s of socks) s.bind(0, '127.0.0.1');
  await Promise.all(socks.map((s) => once(s, 'listening')));
  const ports = socks.map((s) => s.address().port);
  for (const s of socks) s.close();
  return ports;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freeTcpPort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  s.close();
  return port;
}

/** Spawns the CLI (recorded in `children` for cleanup); resolves when `ready` matches its output. */
export function startCli(args: string[], ready: RegExp, children: ChildProcess[]): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer): void => { out += b.toString(); if (ready.test(out)) resolve({ child, output: () => out }); };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`newtos ${args[0]} exited with ${code}: ${out}`)));
  });
}

/** Runs the CLI to its exit: status and output. */
export async function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  const [code] = await once(child, 'exit') as [number | null];
  return { code, stdout, stderr };
}
