#!/usr/bin/env node
/**
 * The newtos command line: `newtos <command> [flags]`, `newtos <command> --help`
 * (that command's usage, exit 0), `newtos --version`.
 *
 * Exit status: 0 done; 1 the command failed (a port in use, a host that cannot
 * be reached, ...: one line on stderr naming what failed); 2 a usage error (the
 * line, then the command's usage). Ordinary failures never print a stack trace.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { NewtosError } from '../errors.js';

const LINK = `    LINK: --tap DEV (root), or --udp HOST:PORT --remote HOST:PORT [--mode dgram|stream|vxlan] [--vni N]
          (Ethernet over UDP as QEMU's -netdev dgram / stream or Linux VXLAN send it; no privileges)
    --offload on|off: a TAP's virtio-net offloads (default on; off: tcpdump on the TAP shows plain frames)
    --cc cubic|newreno|bbr: TCP congestion control (default bbr)
    --placement isolated|grouped|monolithic|postmessage|auto: server threads (default auto: isolated
          when the machine has a core for each server thread and the application, else grouped)`;

const USAGES: Readonly<Record<string, string>> = {
  demo: '  newtos demo [--placement isolated|grouped|monolithic|postmessage|auto] [--mtu N]',
  up: `  newtos up LINK --ip A.B.C.D/N [--gw A.B.C.D] [--dns A.B.C.D[:PORT] ...] [--mtu N] [--offload on|off] [--cc CC] [--http DIR] [--echo PORT] [--placement P] [--replicas N] [--stats-port PORT]
  newtos up --config FILE [--http DIR] [--echo PORT] [--stats-port PORT]
${LINK}`,
  ping: `  newtos ping LINK --ip A.B.C.D/N [--gw A.B.C.D] [--offload on|off] [-c COUNT] [--interval-ms MS] [-s SIZE] [-t TTL] [--timeout-ms MS] DEST
${LINK}`,
  stats: '  newtos stats --port PORT [--prometheus]',
  top: '  newtos top --port PORT [--once] [--interval-ms MS]\n    a live view of the `newtos up --stats-port PORT` host: servers, replicas, queues, restarts, the monitor\'s decisions',
  capture: '  newtos capture --port PORT [--iface NAME] --out FILE [--count K] [--seconds S] [--snaplen B]',
  run: `  newtos run (LINK --ip A.B.C.D/N [--gw A.B.C.D] [--dns A.B.C.D[:PORT] ...] | --config FILE) [--host NAME=A.B.C.D ...] -- node app.js [args]
${LINK}`,
  inject: '  newtos inject SERVER --port PORT [--fault crash|hang|exit|oom] [--replica N] [--json]\n    SERVER: driver, ip, pf, tcp, udp or sock of the `newtos up --stats-port PORT` host; prints the restart',
  revive: '  newtos revive SERVER --port PORT [--replica N] [--json]\n    brings back a server of the `newtos up --stats-port PORT` host that a crash loop had given up (failed)',
  regroup: '  newtos regroup isolated|grouped --port PORT [--json]\n    moves the servers of the `newtos up --stats-port PORT` host to that placement while they run; prints what moved',
  experiment: '  newtos experiment faults [--servers LIST] [--faults LIST] [--links LIST] [--rate-mbit N] [--placement P] [--baseline] [--repeat N] [--svg FILE] [--json]',
  impair: `  newtos impair --tap A --tap B [--loss P] [--duplicate P] [--reorder P] [--delay MS] [--rate R] [--seed N]
    an impairing bridge between two TAP devices (root), as netem: P is 0..1 or N%, R e.g. 100mbit;
    move each TAP into the namespace of one end (ip link set A netns NS); counters as JSON on SIGINT/SIGTERM`,
};

const USAGE = `usage:
${USAGES['demo']}
${USAGES['up']!.split('\n').slice(0, 2).join('\n')}
${USAGES['ping']}
${USAGES['run']!.split('\n')[0]}
${USAGES['stats']}
${USAGES['top']!.split('\n')[0]}
${USAGES['capture']}
${USAGES['inject']!.split('\n')[0]}
${USAGES['revive']!.split('\n')[0]}
${USAGES['regroup']!.split('\n')[0]}
${USAGES['impair']!.split('\n')[0]}
${USAGES['experiment']}
  newtos COMMAND --help | newtos --version`;

function usageOf(command: string | undefined): string {
  const u = command === undefined ? undefined : USAGES[command];
  return u === undefined ? USAGE : `usage:\n${u}`;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** A usage error: the reason, then the command's usage; exit 2. */
function fail(command: string | undefined, message: string): never {
  process.stderr.write(`newtos: ${message}\n${usageOf(command)}\n`);
  process.exit(2);
}

function port(command: string, text: string | undefined): number {
  const n = text !== undefined && /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 65535)) fail(command, `--port must name the stats port of a running \`newtos up\` (1 to 65535), not '${text ?? ''}'`);
  return n;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  // `run`'s arguments after `--` are the program's own.
  const own = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (command !== undefined && command in USAGES && own.some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(`${usageOf(command)}\n`);
    return;
  }
  switch (command) {
    case 'demo': {
      const { values } = parseArgs({ args: rest, options: { placement: { type: 'string' }, mtu: { type: 'string' } }, strict: true });
      const placement = values.placement ?? 'isolated';
      if (!['isolated', 'grouped', 'monolithic', 'postmessage', 'auto'].includes(placement)) fail(command, `--placement must be isolated, grouped, monolithic, postmessage or auto, not '${placement}'`);
      const mtu = values.mtu === undefined ? 1500 : Number(values.mtu);
      if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) fail(command, `--mtu must be an integer from 576 to 65535, not '${values.mtu}'`);
      const { runDemo } = await import('./demo.js');
      const r = await runDemo({ placement: placement as 'isolated', mtu });
      process.exitCode = r.allOk ? 0 : 1;
      return;
    }
    case 'up': {
      const { runUp } = await import('./up.js');
      await runUp(rest);
      return;
    }
    case 'ping': {
      const { runPing } = await import('./ping.js');
      process.exitCode = await runPing(rest);
      return;
    }
    case 'revive': {
      const { runRevive } = await import('./inject.js');
      process.exitCode = await runRevive(rest, (m) => fail('revive', m));
      break;
    }
    case 'inject': {
      const { runInject } = await import('./inject.js');
      process.exitCode = await runInject(rest, (m) => fail('inject', m));
      return;
    }
    case 'regroup': {
      const { runRegroup } = await import('./regroup.js');
      process.exitCode = await runRegroup(rest, (m) => fail('regroup', m));
      return;
    }
    case 'experiment': {
      const { runExperimentCommand } = await import('./experiment.js');
      process.exitCode = await runExperimentCommand(rest, (m) => fail('experiment', m));
      return;
    }
    case 'impair': {
      const { runImpair } = await import('./impair.js');
      await runImpair(rest);
      return;
    }
    case 'run': {
      const { runRun } = await import('./run.js');
      process.exitCode = await runRun(rest);
      return;
    }
    case 'top': {
      const { values } = parseArgs({ args: rest, options: { port: { type: 'string' }, once: { type: 'boolean' }, 'interval-ms': { type: 'string' } }, strict: true });
      const p = port(command, values.port);
      const text = values['interval-ms'];
      const interval = text === undefined ? 1000 : Number(text);
      if (!(Number.isInteger(interval) && interval >= 50 && interval <= 60_000)) fail(command, `--interval-ms must be an integer from 50 to 60000, not '${text ?? ''}'`);
      const { top } = await import('./top.js');
      await top(p, interval, values.once === true);
      return;
    }
    case 'stats': {
      const { values } = parseArgs({ args: rest, options: { port: { type: 'string' }, prometheus: { type: 'boolean' } }, strict: true });
      const p = port(command, values.port);
      const { fetchControl } = await import('./control-client.js');
      const res = await fetchControl(p, `/${values.prometheus === true ? 'metrics' : 'stats'}`, AbortSignal.timeout(10_000));
      const text = await res.text();
      if (!res.ok) throw new NewtosError('ERR_NEWTOS_CONTROL', `127.0.0.1:${p} answered ${res.status} ${res.statusText}: is it the --stats-port of a newtos host?`);
      process.stdout.write(text);
      return;
    }
    case 'capture': {
      const { values } = parseArgs({
        args: rest, strict: true,
        options: { port: { type: 'string' }, iface: { type: 'string' }, out: { type: 'string' }, count: { type: 'string' }, seconds: { type: 'string' }, snaplen: { type: 'string' } },
      });
      const p = port(command, values.port);
      if (values.out === undefined) fail(command, 'capture needs --out FILE');
      const num = (name: 'count' | 'seconds' | 'snaplen'): number | undefined => {
        const v = values[name];
        if (v === undefined) return undefined;
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) fail(command, `--${name} must be a positive integer, not '${v}'`);
        return n;
      };
      const count = num('count'); const seconds = num('seconds'); const snaplen = num('snaplen');
      const { runCapture } = await import('./capture.js');
      await runCapture({
        port: p, out: values.out, ...(values.iface !== undefined ? { iface: values.iface } : {}),
        ...(count !== undefined ? { count } : {}), ...(seconds !== undefined ? { seconds } : {}), ...(snaplen !== undefined ? { snaplen } : {}),
      });
      return;
    }
    case '-V':
    case '--version':
      process.stdout.write(`${version()}\n`);
      return;
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      fail(undefined, `unknown command '${command}'`);
  }
}

const command = process.argv[2];
main(process.argv.slice(2)).catch((e: unknown) => {
  const code = (e as { code?: unknown }).code;
  // A flag that is missing, unknown, or present with a bad value: a usage error.
  if (e instanceof Error && typeof code === 'string' && (code === 'ERR_INVALID_ARG_VALUE' || code.startsWith('ERR_PARSE_ARGS'))) fail(command, e.message);
  // Anything else with a code is an ordinary failure (a port in use, a host unreachable): one line.
  if (e instanceof Error && typeof code === 'string') {
    process.stderr.write(`newtos: ${e.message}\n`);
    process.exit(1);
  }
  throw e;
});
