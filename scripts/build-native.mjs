// Builds the TAP addon (native/tap.c) with the node-gyp that ships inside npm,
// against the headers of the local Node install (npm's `nodedir`), never
// downloading anything. Run by `npm install` / `npm ci` (the "install" script).
//
// With --if-needed (the "pretest" script) it builds only when the addon is
// missing or older than its sources, e.g. in a fresh git worktree.
//
// A failed build is not a failed install: newtos runs without TAP (virtual
// switch, UDP links). We print why, and the TAP backend reports the same reason
// as ERR_TAP_UNAVAILABLE when someone asks for it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const statusFile = join(nativeDir, 'build', 'status.json');
const built = join(nativeDir, 'build', 'Release', 'tap.node');

function record(ok, reason) {
  mkdirSync(dirname(statusFile), { recursive: true });
  writeFileSync(statusFile, JSON.stringify({ ok, reason, node: process.version, at: new Date().toISOString() }) + '\n');
}

function warn(reason) {
  record(false, reason);
  console.warn(`newtos: WARNING: the TAP addon was not built (${reason}).`);
  console.warn('newtos: everything else works; the TAP backend will throw ERR_TAP_UNAVAILABLE.');
}

/** npm's own node-gyp: npm tells lifecycle scripts where it is; else find it beside npm. */
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) {
    candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  try {
    const require = createRequire(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'package.json'));
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // npm not installed beside node
  }
  return candidates.find((c) => existsSync(c));
}

function upToDate() {
  if (!existsSync(built)) return false;
  const builtAt = statSync(built).mtimeMs;
  return ['tap.c', 'binding.gyp'].every((f) => statSync(join(nativeDir, f)).mtimeMs <= builtAt);
}

function main() {
  if (process.argv.includes('--if-needed') && upToDate()) return;
  if (process.env.NEWTOS_SKIP_NATIVE === '1') return warn('NEWTOS_SKIP_NATIVE=1');
  if (process.platform !== 'linux') return warn(`TAP devices need Linux, this is ${process.platform}`);
  const gyp = findNodeGyp();
  if (gyp === undefined) return warn('node-gyp (bundled with npm) not found');
  // Headers: npm's nodedir (e.g. /usr, set in npmrc) or the prefix node runs from.
  const nodedir = process.env.npm_config_nodedir || join(dirname(process.execPath), '..');
  if (!existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) {
    return warn(`Node headers not found under ${nodedir}/include/node (set npm's nodedir)`);
  }
  rmSync(join(nativeDir, 'build'), { recursive: true, force: true });
  const result = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`], {
    cwd: nativeDir,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    env: { ...process.env, npm_config_nodedir: nodedir },
  });
  if (result.error || result.status !== 0 || !existsSync(built)) {
    const tail = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-8).join('\n');
    if (tail) console.warn(tail);
    const firstError = `${result.stdout ?? ''}${result.stderr ?? ''}`.split('\n')
      .find((l) => /error|not found|No such file/i.test(l) && !l.startsWith('gyp ERR!'));
    return warn(result.error ? result.error.message
      : `node-gyp exited with ${result.status}${firstError ? `: ${firstError.trim()}` : ''}`);
  }
  record(true, '');
  console.log(`newtos: built ${built}`);
}

main();
