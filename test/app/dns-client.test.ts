// The DNS client against a tiny DNS server on another newtos host on the virtual switch.
// The server's answers are built by hand here (not with src/wire/dns.ts), with compressed
// names, so the client is checked against independent bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../../src/stack/host.js';
import type { NetSocket } from '../../src/app/net-socket.js';

const u16 = (n: number): number[] => [n >> 8, n & 0xff];
const A = (ip: string): number[] => ip.split('.').map(Number);
/** One answer record whose owner name is the pointer `ptr`. */
const rr = (ptr: number, type: number, data: number[]): number[] => [...u16(0xc000 | ptr), ...u16(type), 0, 1, 0, 0, 1, 44, ...u16(data.length), ...data];
const label = (s: string): number[] => [s.length, ...Buffer.from(s)];

interface Query { id: number; name: string; question: number[] }

function parseQuery(msg: Buffer): Query {
  const labels: string[] = [];
  let at = 12;
  while (msg[at] !== 0) { labels.push(msg.subarray(at + 1, at + 1 + msg[at]!).toString()); at += 1 + msg[at]!; }
  return { id: msg.readUInt16BE(0), name: labels.join('.'), question: [...msg.subarray(12, at + 5)] };
}

/** The reply bytes for a query; undefined: stay silent. `tcp`: the query came over TCP. */
function answer(q: Query, tcp: boolean): number[] | undefined {
  const head = (flags: number, an: number): number[] => [...u16(q.id), ...u16(flags), 0, 1, ...u16(an), 0, 0, 0, 0];
  const qEnd = 12 + q.question.length;
  switch (q.name) {
    case 'www.example.test': return [...head(0x8180, 1), ...q.question, ...rr(12, 1, A('10.0.0.1'))];
    case 'alias.example.test': {
      // CNAME www + pointer to "example.test" in the question (offset 12 + 6), then the A of the CNAME's target.
      const cname = [...label('www'), 0xc0, 12 + 6];
      return [...head(0x8180, 2), ...q.question, ...rr(12, 5, cname), ...rr(qEnd + 12, 1, A('10.0.0.1'))];
    }
    case 'hop.example.test': return [...head(0x8180, 1), ...q.question, ...rr(12, 5, [...label('alias'), 0xc0, 12 + 4])];
    case 'big.example.test':
      if (!tcp) return [...head(0x8380, 0), ...q.question]; // TC: ask over TCP
      return [...head(0x8180, 3), ...q.question, ...rr(12, 1, A('10.0.0.1')), ...rr(12, 1, A('10.0.0.7')), ...rr(12, 1, A('10.0.0.8'))];
    case 'missing.example.test': return [...head(0x8183, 0), ...q.question];
    case 'noa.example.test': return [...head(0x8180, 0), ...q.question];
    case 'fail.example.test': return [...head(0x8182, 0), ...q.question];
    case 'silent.example.test': return undefined;
    default: return [...head(0x8183, 0), ...q.question];
  }
}

async function dnsServer(host: Stack): Promise<{ queries: string[] }> {
  const queries: string[] = [];
  const udp = host.dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    const q = parseQuery(msg);
    queries.push(q.name);
    const reply = answer(q, false);
    if (reply === undefined) return;
    if (q.name === 'www.example.test') {
      // A spoofed-looking reply first (wrong ID): the client must wait for the real one.
      const wrong = Buffer.from(reply);
      wrong.writeUInt16BE((q.id + 1) & 0xffff, 0);
      wrong[wrong.length - 1] = 99; // and another address: taking it would show
      udp.send(wrong, rinfo.port, rinfo.address);
    }
    udp.send(Buffer.from(reply), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => udp.bind(53, () => resolve()));
  const tcp = host.net.createServer((s: NetSocket) => {
    let got = Buffer.alloc(0);
    s.on('data', (c: Buffer) => {
      got = Buffer.concat([got, c]);
      if (got.length < 2 || got.length < 2 + got.readUInt16BE(0)) return;
      const reply = Buffer.from(answer(parseQuery(got.subarray(2)), true)!);
      const len = Buffer.alloc(2);
      len.writeUInt16BE(reply.length);
      s.end(Buffer.concat([len, reply]));
    });
  });
  await new Promise<void>((resolve) => tcp.listen(53, resolve));
  return { queries };
}

async function hosts(): Promise<[Stack, Stack]> {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const host = (name: string, ip: string, extra: object): Promise<Stack> => createStack({
    name, placement: 'monolithic', interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }], ...extra,
  }, { switches: { sw0: sw } });
  return Promise.all([
    host('client', '10.0.0.2/24', { dns: { resolvers: ['10.0.0.1'], timeoutMs: 300, attempts: 1 } }),
    host('server', '10.0.0.1/24', {}),
  ]);
}

test('A lookups over the stack UDP: compression, CNAME chains, TC → TCP, errors as Node', { timeout: 60_000 }, async () => {
  const [client, server] = await hosts();
  try {
    const { queries } = await dnsServer(server);
    const dns = client.dns!;
    assert.deepEqual(await dns.resolve4('www.example.test'), ['10.0.0.1']);
    assert.deepEqual(await dns.resolve4('Alias.Example.Test.'), ['10.0.0.1']);
    // The server gives only a CNAME: the client asks again for the target (hop → alias → www).
    queries.length = 0;
    assert.deepEqual(await dns.resolve4('hop.example.test'), ['10.0.0.1']);
    assert.deepEqual(queries, ['hop.example.test', 'alias.example.test']);
    assert.deepEqual(await dns.resolve4('big.example.test'), ['10.0.0.1', '10.0.0.7', '10.0.0.8']);
    const fails = async (name: string, code: string): Promise<void> => {
      await assert.rejects(dns.resolve4(name), (e: Error & { code?: string; syscall?: string; hostname?: string }) => {
        assert.equal(e.code, code);
        assert.equal(e.syscall, 'queryA');
        assert.equal(e.hostname, name);
        return true;
      });
    };
    await fails('missing.example.test', 'ENOTFOUND');
    await fails('noa.example.test', 'ENODATA');
    await fails('fail.example.test', 'ESERVFAIL');
    await fails('silent.example.test', 'ETIMEOUT');
    await fails('a..b', 'EBADNAME');
    await assert.rejects(dns.resolve4(7 as unknown as string), { code: 'ERR_INVALID_ARG_TYPE' });

    // net.connect resolves names through it (the stack's lookup hook).
    const echo = server.net.createServer((s: NetSocket) => s.end('hi'));
    await new Promise<void>((resolve) => echo.listen(7, resolve));
    const got = await new Promise<string>((resolve, reject) => {
      const s = client.net.connect({ host: 'alias.example.test', port: 7 });
      let text = '';
      s.on('lookup', (err: Error | null, address: string) => { if (err === null) assert.equal(address, '10.0.0.1'); });
      s.on('data', (d: Buffer) => { text += d.toString(); });
      s.on('end', () => resolve(text));
      s.on('error', reject);
    });
    assert.equal(got, 'hi');
    const err = await new Promise<Error & { code?: string; syscall?: string }>((resolve) => {
      client.net.connect({ host: 'noa.example.test', port: 7 }).on('error', resolve);
    });
    assert.equal(err.code, 'ENOTFOUND'); // getaddrinfo reports no A record as ENOTFOUND
    assert.equal(err.syscall, 'getaddrinfo');
    echo.close();
  } finally {
    await Promise.all([client.close(), server.close()]);
  }
});

test('every resolver refusing (ICMP port unreachable) is ECONNREFUSED; bad resolvers are refused with the field', { timeout: 60_000 }, async () => {
  const [client, server] = await hosts();
  try {
    // Nothing listens on the server's port 53.
    await assert.rejects(client.dns!.resolve4('www.example.test'), { code: 'ECONNREFUSED' });
  } finally {
    await Promise.all([client.close(), server.close()]);
  }
  await assert.rejects(createStack({
    interfaces: [{ name: 'eth0', link: { type: 'frames' }, addresses: ['10.0.0.1/24'] }], dns: { resolvers: ['10.0.0.300'] },
  }), { code: 'ERR_NEWTOS_CONFIG', message: /dns\.resolvers\[0\]: must be a resolver's IPv4 address/ });
  await assert.rejects(createStack({
    interfaces: [{ name: 'eth0', link: { type: 'frames' }, addresses: ['10.0.0.1/24'] }], dns: { resolvers: [] },
  }), { code: 'ERR_NEWTOS_CONFIG', message: /dns\.resolvers/ });
});
