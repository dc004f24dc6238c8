// Two processes, each one newtos host, joined by Ethernet frames over UDP on loopback (the
// link QEMU's -netdev dgram speaks; no privileges). This process serves TCP and forks the
// client process, which connects across the link.
// Run: node examples/udp-link.mjs
import { fork } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createStack } from 'newtos';

const [role, mine, theirs] = process.argv.slice(2);
const host = (name, address, local, remote) => createStack({
  name, interfaces: [{ name: 'eth0', link: { type: 'udp', mode: 'dgram', local: `127.0.0.1:${local}`, remote: `127.0.0.1:${remote}` }, addresses: [address] }],
});

if (role === 'client') {
  const b = await host('client', '10.9.0.2/24', mine, theirs);
  const socket = b.net.connect({ host: '10.9.0.1', port: 9000 });
  let text = '';
  socket.on('data', (d) => { text += d; });
  socket.on('end', async () => {
    process.stdout.write(`client (pid ${process.pid}) got: ${text}`);
    await b.close();
  });
} else {
  // Two free loopback UDP ports for the two ends of the link.
  const probes = [createSocket('udp4').bind(0, '127.0.0.1'), createSocket('udp4').bind(0, '127.0.0.1')];
  await Promise.all(probes.map((s) => once(s, 'listening')));
  const [p1, p2] = probes.map((s) => s.address().port);
  for (const s of probes) s.close();
  const a = await host('server', '10.9.0.1/24', p1, p2);
  const server = a.net.createServer((s) => s.end(`hello from pid ${process.pid} over a UDP link\n`));
  server.listen(9000, () => {
    const child = fork(new URL(import.meta.url), ['client', String(p2), String(p1)]);
    child.on('exit', async (code) => {
      server.close();
      await a.close();
      process.exitCode = code ?? 1;
    });
  });
}
