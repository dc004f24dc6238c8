#!/usr/bin/env node
/**
 * The newtos command line.
 *
 *   newtos demo [--placement isolated|monolithic|postmessage] [--mtu N]
 *   newtos up (--tap DEV | --udp HOST:PORT --remote HOST:PORT [--mode dgram|stream|vxlan] [--vni N])
 *             --ip A.B.C.D/N [--gw A.B.C.D] [--mtu N] [--http DIR] [--echo PORT]
 *             [--placement P] [--stats-port PORT] [--config FILE]
 *   newtos ping (the link and address flags of up) [-c COUNT] [--interval-ms MS] [-s SIZE] [-t TTL] [--timeout-ms MS] DEST
 *   newtos stats --port PORT [--prometheus]
 *   newtos capture --port PORT [--iface NAME] --out FILE [--count K] [--seconds S] [--snaplen B]
 */
import { parseArgs } from 'node:util';
import { NewtosError } from '../errors.js';

const USAGE = `usage:
  newtos demo [--placement isolated|monolithic|postmessage] [--mtu N]
  newtos up LINK --ip A.B.C.D/N [--gw A.B.C.D] [--mtu N] [--http DIR] [--echo PORT] [--placement P] [--stats-port PORT]
  newtos up --config FILE [--http DIR] [--echo PORT] [--stats-port PORT]
  newtos ping LINK --ip A.B.C.D/N [--gw A.B.C.D] [-c COUNT] [--interval-ms MS] [-s SIZE] [-t TTL] [--timeout-ms MS] DEST
    LINK: --tap DEV (root), or --udp HOST:PORT --remote HOST:PORT [--mode dgram|stream|vxlan] [--vni N]
          (Ethernet over UDP as QEMU's -netdev dgram / stream or Linux VXLAN send it; no privileges)
  newtos run (LINK --ip A.B.C.D/N [--gw A.B.C.D] | --config FILE) [--host NAME=A.B.C.D ...] -- node app.js [args]
  newtos stats --port PORT [--prometheus]
  newtos capture --port PORT [--iface NAME] --out FILE [--count K] [--seconds S] [--snaplen B]`;

function fail(message: string): never {
  process.stderr.write(`newtos: ${message}\n${USAGE}\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'demo': {
      const { values } = parseArgs({ args: rest, options: { placement: { type: 'string' }, mtu: { type: 'string' } }, strict: true });
      const placement = values.placement ?? 'isolated';
      if (!['isolated', 'monolithic', 'postmessage'].includes(placement)) fail(`--placement must be isolated, monolithic or postmessage, not '${placement}'`);
      const mtu = values.mtu === undefined ? 1500 : Number(values.mtu);
      if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) fail(`--mtu must be an integer from 576 to 65535, not '${values.mtu}'`);
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
    case 'run': {
      const { runRun } = await import('./run.js');
      process.exitCode = await runRun(rest);
      return;
    }
    case 'stats': {
      const { values } = parseArgs({ args: rest, options: { port: { type: 'string' }, prometheus: { type: 'boolean' } }, strict: true });
      const port = Number(values.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) fail('--port must name the stats port of a running `newtos up`');
      const res = await fetch(`http://127.0.0.1:${port}/${values.prometheus === true ? 'metrics' : 'stats'}`);
      process.stdout.write(await res.text());
      return;
    }
    case 'capture': {
      const { values } = parseArgs({
        args: rest, strict: true,
        options: { port: { type: 'string' }, iface: { type: 'string' }, out: { type: 'string' }, count: { type: 'string' }, seconds: { type: 'string' }, snaplen: { type: 'string' } },
      });
      const port = Number(values.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) fail('--port must name the stats port of a running `newtos up`');
      if (values.out === undefined) fail('capture needs --out FILE');
      const num = (name: 'count' | 'seconds' | 'snaplen'): number | undefined => {
        const v = values[name];
        if (v === undefined) return undefined;
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer, not '${v}'`);
        return n;
      };
      const count = num('count'); const seconds = num('seconds'); const snaplen = num('snaplen');
      const { runCapture } = await import('./capture.js');
      await runCapture({
        port, out: values.out, ...(values.iface !== undefined ? { iface: values.iface } : {}),
        ...(count !== undefined ? { count } : {}), ...(seconds !== undefined ? { seconds } : {}), ...(snaplen !== undefined ? { snaplen } : {}),
      });
      return;
    }
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      fail(`unknown command '${command}'`);
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  // A flag that is missing, or present with a bad value: a usage error, as parseArgs's own.
  if (e instanceof NewtosError && e.code === 'ERR_INVALID_ARG_VALUE') fail(e.message);
  if (e instanceof NewtosError || (e instanceof Error && 'code' in e)) {
    process.stderr.write(`newtos: ${(e as Error).message}\n`);
    process.exit(1);
  }
  if (e instanceof TypeError && /parseArgs|Unknown option|ERR_PARSE_ARGS/.test(String((e as { code?: string }).code ?? e.message))) fail(e.message);
  throw e;
});
