// An ordinary Node program: an https server with a self-signed certificate (tls/, for
// example.test, 10.0.0.1 and localhost) and an https.get that trusts only that certificate.
// Under `newtos run` TLS runs over newtos connections.
// Run: npx newtos run --udp 127.0.0.1:47003 --remote 127.0.0.1:47004 --ip 10.0.0.1/24 -- node examples/https.mjs
import https from 'node:https';
import { readFileSync } from 'node:fs';

const tls = (f) => readFileSync(new URL(`tls/${f}`, import.meta.url));
const server = https.createServer({ key: tls('key.pem'), cert: tls('cert.pem') }, (req, res) => {
  res.end(`hello over TLS (${req.socket.getProtocol()})\n`);
});
server.listen(8443, () => {
  https.get({ host: '10.0.0.1', port: 8443, ca: tls('cert.pem') }, (res) => {
    let body = '';
    res.on('data', (d) => { body += d; });
    res.on('end', () => {
      process.stdout.write(`https: ${res.statusCode} ${body}`);
      server.close();
    });
  });
});
