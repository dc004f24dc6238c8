/**
 * `newtos run [host flags | --config FILE] [--host NAME=A.B.C.D ...] -- node app.js [args]`:
 * runs an unmodified Node program on a newtos host in its own process. The program is
 * started with `--import` of the preload (src/run/preload.ts), which brings the host up
 * before the program's first line and puts Node's net, http, https, tls, dgram and fetch
 * on it. The host is described as for `newtos up` (host-flags.ts) or by a configuration
 * file; `--host` names resolve without DNS ('localhost' is the host's own loopback).
 * Exits with the program's status (128 + signal number when a signal ended it).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { isIPv4 } from 'node:net';
import { constants as osConstants } from 'node:os';
import { parseArgs } from 'node:util';
import { NewtosError } from '../errors.js';
import { loadStackConfigFile } from '../config/stack-config.js';
import { HOST_FLAGS, hostConfigFromFlags } from './host-flags.js';

const PRELOAD = new URL('../run/preload.js', import.meta.url).href;

function bad(message: string): NewtosError {
  return new NewtosError('ERR_INVALID_ARG_VALUE', message);
}

/** The host configuration and lookup table `newtos run` hands to the preload. */
export function runPlan(args: string[]): { config: unknown; hosts: Record<string, string>; command: string[] } {
  const dash = args.indexOf('--');
  if (dash < 0 || dash === args.length - 1) throw bad('newtos run needs the program after --: newtos run --udp ... --ip ... -- node app.js');
  const command = args.slice(dash + 1);
  const exe = basename(command[0]!);
  if (!/^node(\.exe)?$/.test(exe) && command[0] !== process.execPath) {
    throw bad(`newtos run starts a node program (-- node app.js), not '${command[0]}'`);
  }
  const { values } = parseArgs({
    args: args.slice(0, dash), strict: true,
    options: { ...HOST_FLAGS, config: { type: 'string' }, host: { type: 'string', multiple: true } },
  });
  let config: unknown;
  if (values.config !== undefined) {
    for (const flag of Object.keys(HOST_FLAGS) as (keyof typeof HOST_FLAGS)[]) {
      if (values[flag] !== undefined) throw bad(`--${flag} and --config both describe the host: give one`);
    }
    loadStackConfigFile(values.config); // refused here with line:column
    const fromFile = JSON.parse(readFileSync(values.config, 'utf8')) as Record<string, unknown>;
    fromFile['placement'] ??= 'auto'; // as with flags (host-flags.ts)
    config = fromFile;
  } else {
    config = hostConfigFromFlags(values, 'run');
  }
  const hosts: Record<string, string> = {};
  for (const h of values.host ?? []) {
    const m = /^([^=\s]+)=(.+)$/.exec(h);
    if (m === null || !isIPv4(m[2]!)) throw bad(`--host must be NAME=A.B.C.D, not '${h}'`);
    hosts[m[1]!] = m[2]!;
  }
  return { config, hosts, command };
}

export async function runRun(args: string[]): Promise<number> {
  const { config, hosts, command } = runPlan(args);
  const child = spawn(command[0] === 'node' ? process.execPath : command[0]!, ['--import', PRELOAD, ...command.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, NEWTOS_RUN_CONFIG: JSON.stringify({ config, hosts }) },
  });
  const forward = (sig: NodeJS.Signals): void => { child.kill(sig); };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve, reject) => {
    child.once('error', (e) => reject(new NewtosError('ERR_NEWTOS_RUN', `cannot start ${command[0]}: ${e.message}`)));
    child.once('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? 128 + ((signal !== null ? osConstants.signals[signal] : 0) ?? 0));
    });
  });
}
