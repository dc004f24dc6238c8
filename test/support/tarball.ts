// The package as a user gets it: `npm pack` of this checkout, installed into a fresh folder
// outside the repository with npm's offline mode (newtos has no runtime dependencies; extra
// packages a test asks for must already be in npm's cache, as this repository's devDependencies are).
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
/** The repository root (dist/test/support → ../../..). */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/** npm's own CLI beside this node (so a test can run it with a PATH that has nothing else). */
export const NPM_CLI = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');

export const NPX_CLI = join(dirname(NPM_CLI), 'npx-cli.js');

export interface Output { stdout: string; stderr: string }

/** Runs a command to its end (rejects on a non-zero exit, with its output in the message). */
export async function sh(file: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Output> {
  try {
    return await run(file, args, { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 << 20 });
  } catch (e) {
    const err = e as Error & { stdout?: string; stderr?: string };
    err.message += `\n--- stdout\n${err.stdout ?? ''}\n--- stderr\n${err.stderr ?? ''}`;
    throw err;
  }
}

/** `npm pack` of the repository into a fresh folder: the tarball's path and its file list. */
export async function packTarball(): Promise<{ tarball: string; files: string[] }> {
  const dest = await mkdtemp(join(tmpdir(), 'newtos-pack-'));
  const { stdout } = await sh(process.execPath, [NPM_CLI, 'pack', '--json', '--pack-destination', dest], { cwd: REPO });
  // `prepare` (tsc -b) may print before the JSON.
  const json = JSON.parse(stdout.slice(stdout.indexOf('[\n'))) as [{ filename: string; files: { path: string }[] }];
  const name = (await readdir(dest)).find((f) => f.endsWith('.tgz'));
  if (name === undefined) throw new Error(`npm pack left no tarball in ${dest}`);
  return { tarball: join(dest, name), files: json[0].files.map((f) => f.path) };
}

/**
 * A fresh project folder outside the repository with the tarball (and `extra` packages) installed,
 * from the npm cache where it can: `npm ci` cached the lockfile's tarballs, but not the registry's
 * package documents that resolving a range such as `express@^4` needs, so on a fresh machine those
 * come from the registry (`--offline` failed there with ENOTCACHED).
 */
export async function installTarball(tarball: string, extra: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<{ dir: string; output: Output }> {
  const dir = await mkdtemp(join(tmpdir(), 'newtos-app-'));
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'newtos-user', private: true, type: 'module' }) + '\n');
  const output = await sh(process.execPath, [NPM_CLI, 'install', '--prefer-offline', '--no-audit', '--no-fund', tarball, ...extra], { cwd: dir, env, timeoutMs: 300_000 });
  return { dir, output };
}
