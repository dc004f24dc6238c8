// UDP between two newtos hosts with the dgram-compatible sockets: a datagram and its reply.
// Run: node examples/dgram.mjs
import { createStack, createVswitch } from 'newtos';

const sw0 = createVswitch({ ports: 2 });
const host = (name, address) => createStack({
  name, interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [address] }],
}, { switches: { sw0 } });
const [a, b] = await Promise.all([host('a', '10.0.0.1/24'), host('b', '10.0.0.2/24')]);

const server = a.dgram.createSocket('udp4');
server.on('message', (msg, rinfo) => server.send(`pong to ${rinfo.address}: ${msg}`, rinfo.port, rinfo.address));
server.bind(5300, () => {
  const client = b.dgram.createSocket('udp4');
  client.on('message', async (msg) => {
    console.log(msg.toString());
    client.close();
    server.close();
    await Promise.all([a.close(), b.close()]);
  });
  client.send('ping', 5300, '10.0.0.1');
});
