/**
 * The Linux test rig: network namespaces, veth pairs, addresses and links that a
 * test creates for itself and always removes again, even when the test fails.
 *
 * Rules the rig keeps (and tests using it must keep too):
 * - every namespace and root-namespace interface it creates carries a random
 *   per-rig tag, so parallel test files and leftover state never collide;
 * - addresses go only on interfaces the rig made (use 10.x or 192.168.x), and
 *   traffic goes only to addresses inside namespaces the rig made;
 * - cleanup is registered with `t.after` by `createRig`, so a thrown assertion
 *   still removes everything.
 *
 * Commands are run with execFile (no shell). `run` is async so the event loop
 * keeps running (a test may be serving frames from the same thread meanwhile).
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Kill the command after this many milliseconds (default 20 s). */
  readonly timeoutMs?: number;
  /** Resolve with a non-zero exit code instead of rejecting (default false). */
  readonly allowFailure?: boolean;
}

const SKIP_MESSAGE = 'needs root: creates network namespaces';

let rootProbe: string | undefined;

/**
 * Why the kernel rig cannot run here, or '' when it can: not root, no `ip`, or
 * namespaces refused (e.g. an unprivileged container). Probed once per process.
 */
export function rigUnavailableReason(): string {
  if (rootProbe !== undefined) return rootProbe;
  if (process.platform !== 'linux') return (rootProbe = `${SKIP_MESSAGE} (not Linux)`);
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return (rootProbe = `${SKIP_MESSAGE} (not running as root)`);
  }
  const ipVersion = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (ipVersion.error || ipVersion.status !== 0) {
    return (rootProbe = `${SKIP_MESSAGE} (the 'ip' command from iproute2 is missing)`);
  }
  const probe = `ntprobe${randomBytes(3).toString('hex')}`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (add.status !== 0) {
    return (rootProbe = `${SKIP_MESSAGE} ('ip netns add' failed: ${add.stderr.trim()})`);
  }
  spawnSync('ip', ['netns', 'del', probe]);
  return (rootProbe = '');
}

/** The commands of `tools` this machine does not have (looked up on PATH). */
export function missingTools(tools: readonly string[]): string[] {
  return tools.filter((n) => spawnSync('sh', ['-c', `command -v ${n}`], { stdio: 'ignore' }).status !== 0);
}

/**
 * Skips the test with "needs root: creates network namespaces" unless the rig can
 * run, or with the names of the `tools` it runs that are missing (a fresh machine has no
 * ping, tcpdump...: the test must say so, not fail on "exec of ping failed"). Use as
 * `if (!requireRoot(t, ['ping'])) return;`; test/support/tool-guards.test.ts checks that
 * every test file names the tools it runs.
 */
export function requireRoot(t: TestContext, tools: readonly string[] = []): boolean {
  let reason = rigUnavailableReason();
  const missing = reason === '' ? missingTools(tools) : [];
  if (missing.length > 0) reason = `needs the tools ${missing.join(', ')} (not installed)`;
  if (reason === '') return true;
  t.skip(reason);
  return false;
}

/** Run a command; rejects on a non-zero exit unless `allowFailure`. */
export function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('run: empty argv');
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: options.timeoutMs ?? 20_000, encoding: 'utf8', maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        const result = { code, stdout, stderr };
        if (code !== 0 && options.allowFailure !== true) {
          reject(new Error(`${argv.join(' ')} exited with ${String(error?.code ?? code)}: ${stderr.trim()}`));
        } else {
          resolve(result);
        }
      });
  });
}

/** A pair of veth interfaces and where each end lives (undefined: root namespace). */
export interface VethPair {
  readonly a: string;
  readonly b: string;
  readonly nsA: string | undefined;
  readonly nsB: string | undefined;
}

/**
 * Everything one test made in the kernel. Create with `createRig(t)`; every
 * method records what it made so `cleanup` can remove it.
 */
export class Rig {
  /** Random tag in every name this rig makes: 6 hex digits. */
  readonly tag = randomBytes(3).toString('hex');
  private readonly namespaces: string[] = [];
  private readonly rootLinks: string[] = [];
  private counter = 0;

  /** A fresh interface name (≤ 15 bytes, the kernel's IFNAMSIZ - 1) with this rig's tag. */
  linkName(prefix = 'nt'): string {
    const name = `${prefix}${this.tag}${(this.counter++).toString(36)}`;
    if (name.length > 15) throw new Error(`interface name too long: ${name}`);
    return name;
  }

  /** Creates a namespace with its loopback up; removed by cleanup. */
  async netns(): Promise<string> {
    const name = `ntos-${this.tag}-${(this.counter++).toString(36)}`;
    await run(['ip', 'netns', 'add', name]);
    this.namespaces.push(name);
    await run(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /**
   * Creates a veth pair; each end optionally moved into a namespace (which
   * should be one this rig made). Root-namespace ends are removed by cleanup;
   * namespaced ends go with their namespace.
   */
  async veth(nsA?: string, nsB?: string): Promise<VethPair> {
    const a = this.linkName('nv');
    const b = this.linkName('nv');
    await run(['ip', 'link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
    this.rootLinks.push(a); // deleting one end deletes the pair
    if (nsA !== undefined) await this.moveLink(a, nsA);
    if (nsB !== undefined) await this.moveLink(b, nsB);
    return { a, b, nsA, nsB };
  }

  /** Moves an interface into a namespace (a TAP keeps its fd across the move). */
  async moveLink(link: string, ns: string): Promise<void> {
    await run(['ip', 'link', 'set', link, 'netns', ns]);
  }

  /** Registers a root-namespace interface the test made some other way (e.g. a TAP). */
  adoptRootLink(link: string): void {
    this.rootLinks.push(link);
  }

  /** `ip addr add CIDR dev LINK` in ns (undefined: root namespace). */
  async addr(ns: string | undefined, link: string, cidr: string): Promise<void> {
    await run([...ipIn(ns), 'addr', 'add', cidr, 'dev', link]);
  }

  /** `ip link set LINK up` in ns, plus any extra `ip link set` arguments (mtu, address). */
  async up(ns: string | undefined, link: string, ...extra: string[]): Promise<void> {
    await run([...ipIn(ns), 'link', 'set', link, ...extra, 'up']);
  }

  /** `ip ARGS` in ns. */
  async ip(ns: string | undefined, ...args: string[]): Promise<RunResult> {
    return run([...ipIn(ns), ...args]);
  }

  /** Runs a command inside a namespace (`ip netns exec NS ...`). */
  async exec(ns: string, argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return run(['ip', 'netns', 'exec', ns, ...argv], options);
  }

  /** Removes every namespace and root-namespace link this rig made. Never throws. */
  cleanup(): void {
    for (const link of this.rootLinks.splice(0)) {
      quiet(['ip', 'link', 'del', link]);
    }
    for (const ns of this.namespaces.splice(0)) {
      quiet(['ip', 'netns', 'del', ns]);
    }
  }

  /** Names still owned (for tests of the rig itself). */
  owned(): { namespaces: readonly string[]; links: readonly string[] } {
    return { namespaces: [...this.namespaces], links: [...this.rootLinks] };
  }
}

/** A rig whose cleanup runs after the test, pass or fail. */
export function createRig(t: TestContext): Rig {
  const rig = new Rig();
  t.after(() => rig.cleanup());
  return rig;
}

function ipIn(ns: string | undefined): string[] {
  return ns === undefined ? ['ip'] : ['ip', '-n', ns];
}

function quiet(argv: readonly string[]): void {
  try {
    execFileSync(argv[0]!, argv.slice(1), { stdio: 'ignore', timeout: 10_000 });
  } catch {
    // Already gone (e.g. a veth whose peer's namespace was deleted first).
  }
}
