// Two hosts whose links are the program's own: each host's Ethernet frames come out of
// its frame link (a Duplex stream of frames) and go into the other's. Any transport could
// sit between the two pipes (a WebSocket, an emulator's NIC, a userspace VPN).
import { createStack } from 'newtos';

const host = (name, address) => createStack({
  name, interfaces: [{ name: 'eth0', link: { type: 'frames' }, addresses: [address] }],
});
const [a, b] = await Promise.all([host('a', '10.0.0.1/24'), host('b', '10.0.0.2/24')]);
const la = a.frameLink('eth0');
const lb = b.frameLink('eth0');
let frames = 0;
la.on('data', () => frames++);
la.pipe(lb).pipe(la);

const server = a.net.createServer((socket) => socket.end('hello through a frame link\n'));
server.listen(7000, () => {
  b.net.connect({ host: '10.0.0.1', port: 7000 }, function () {
    this.on('data', (d) => process.stdout.write(d));
    this.on('end', async () => {
      console.log(`frames from a: ${frames}`);
      server.close();
      await Promise.all([a.close(), b.close()]);
    });
  });
});
