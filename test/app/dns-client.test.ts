// The DNS client against a tiny DNS server on another newtos host on the virtual switch
// (test/support/dns-server.ts: hand-built answers with compressed names).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../../src/stack/host.js';
import type { NetSocket } from '../../src/app/net-socket.js';
import { dnsServer } from '../support/dns-server.js';

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
