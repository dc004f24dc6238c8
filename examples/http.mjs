// Node's own http server and client over two newtos hosts: the handler and the request are
// plain Node code; the stack gives the server its connections and the client an Agent.
// Run: node examples/http.mjs
import http from 'node:http';
import { createStack, createVswitch } from 'newtos';

const sw0 = createVswitch({ ports: 2 });
const host = (name, address) => createStack({
  name, interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [address] }],
}, { switches: { sw0 } });
const [a, b] = await Promise.all([host('a', '10.0.0.1/24'), host('b', '10.0.0.2/24')]);

const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ path: req.url, from: req.socket.remoteAddress }));
});
a.http.serve(server, 80, '0.0.0.0', () => {
  http.get({ host: '10.0.0.1', port: 80, path: '/hello', agent: b.http.agent() }, async (res) => {
    let body = '';
    for await (const chunk of res) body += chunk;
    console.log(`${res.statusCode} ${body}`);
    server.close();
    await Promise.all([a.close(), b.close()]);
  });
});
