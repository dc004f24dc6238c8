// An ordinary Node program, no newtos in it: an http server and the global fetch. Under
// `newtos run` both go over a newtos host (the fetch reaches the server through the host's IP).
// Run: npx newtos run --udp 127.0.0.1:47001 --remote 127.0.0.1:47002 --ip 10.0.0.1/24 -- node examples/fetch.mjs
import http from 'node:http';

const server = http.createServer((req, res) => res.end(`hello ${req.socket.remoteAddress}\n`));
server.listen(8080, async () => {
  const res = await fetch('http://10.0.0.1:8080/');
  process.stdout.write(`fetch: ${res.status} ${await res.text()}`);
  server.close();
});
