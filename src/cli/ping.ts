/**
 * `newtos ping`: brings up one host on the link its flags describe
 * (host-flags.ts), sends ICMP echo requests through its IP server
 * (`stack.ping`) and prints what came back as ping(8) does; then shuts the
 * host down. A quick check that a link works, from newtos's side.
 *
 * Exit status: 0 when at least one reply came back, 1 when none did (or the
 * host could not start), 2 for a usage error — as ping(8).
 */
import { parseArgs } from 'node:util';
import { NewtosError } from '../errors.js';
import { createStack } from '../stack/host.js';
import { checkPing, type PingOptions } from '../app/ping.js';
import { HOST_FLAGS, hostConfigFromFlags } from './host-flags.js';

/** Runs the command; resolves to the exit status. `print` takes each output line. */
export async function runPing(args: string[], print: (line: string) => void = (l) => { process.stdout.write(`${l}\n`); }): Promise<number> {
  const { values, positionals } = parseArgs({
    args, strict: true, allowPositionals: true,
    options: {
      ...HOST_FLAGS, count: { type: 'string', short: 'c' }, 'interval-ms': { type: 'string' },
      size: { type: 'string', short: 's' }, ttl: { type: 'string', short: 't' }, 'timeout-ms': { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new NewtosError('ERR_INVALID_ARG_VALUE', 'ping needs one destination address');
  const dest = positionals[0]!;
  // Numbers go to stack.ping as given: it refuses a bad one with Node's codes.
  const num = (v: string | undefined): number | undefined => v === undefined ? undefined : Number(v);
  const count = num(values.count) ?? 4;
  const size = num(values.size) ?? 56;
  const options: PingOptions = {
    count, size,
    ...(values['interval-ms'] !== undefined ? { intervalMs: num(values['interval-ms'])! } : {}),
    ...(values['timeout-ms'] !== undefined ? { timeoutMs: num(values['timeout-ms'])! } : {}),
    ...(values.ttl !== undefined ? { ttl: num(values.ttl)! } : {}),
    onReply: (r) => print(`${r.bytes + 8} bytes from ${r.from}: icmp_seq=${r.seq + 1} ttl=${r.ttl} time=${r.rttMs.toFixed(3)} ms`),
  };
  try {
    checkPing(dest, options);
  } catch (e) {
    // The API's words for the flags ("options.count" is -c here): a usage error.
    const flag: Record<string, string> = { count: '-c/--count', intervalMs: '--interval-ms', timeoutMs: '--timeout-ms', size: '-s/--size', ttl: '-t/--ttl' };
    throw new NewtosError('ERR_INVALID_ARG_VALUE', (e as Error).message.replace(/"options\.(\w+)"/, (_, k: string) => flag[k] ?? k));
  }
  const stack = await createStack(hostConfigFromFlags(values, 'ping'));
  try {
    print(`PING ${dest} ${size} data bytes`);
    const r = await stack.ping(dest, options);
    for (const e of [...r.errors].sort((x, y) => x.seq - y.seq)) print(`From ${e.from ?? 'newtos'} icmp_seq=${e.seq + 1} ${e.message} (${e.code})`);
    print('');
    print(`--- ${r.address} ping statistics ---`);
    print(`${r.transmitted} packets transmitted, ${r.received} received${r.errors.length > 0 ? `, +${r.errors.length} errors` : ''}` +
      `${r.corrupted > 0 ? `, ${r.corrupted} corrupted` : ''}, ${r.lossPct.toFixed(0)}% packet loss`);
    if (r.rtt !== null) print(`rtt min/avg/max/mdev = ${[r.rtt.minMs, r.rtt.avgMs, r.rtt.maxMs, r.rtt.mdevMs].map((x) => x.toFixed(3)).join('/')} ms`);
    return r.received > 0 ? 0 : 1;
  } finally {
    await stack.close();
  }
}
