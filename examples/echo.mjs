// TCP echo between two newtos hosts on an in-process virtual switch (no privileges).
// Run: node examples/echo.mjs
import { createStack, createVswitch } from 'newtos';

const sw0 = createVswitch({ ports: 2 });
const host = (name, address) => createStack({
  name, interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [address] }],
}, { switches: { sw0 } });
const [a, b] = await Promise.all([host('a', '10.0.0.1/24'), host('b', '10.0.0.2/24')]);

const server = a.net.createServer((socket) => socket.pipe(socket)); // echo
server.listen(7, () => {
  const client = b.net.connect({ host: '10.0.0.1', port: 7 }, () => client.end('hello, echo\n'));
  let echoed = '';
  client.on('data', (d) => { echoed += d; });
  client.on('end', async () => {
    process.stdout.write(`echoed: ${echoed}`);
    server.close();
    await Promise.all([a.close(), b.close()]);
  });
});
