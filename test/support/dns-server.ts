// A tiny DNS server on a newtos host (UDP and TCP port 53) for tests. Its answers are
// built by hand here (not with src/wire/dns.ts), with compressed names, so the client is
// checked against independent bytes. Names it knows: www/alias/hop/big/missing/noa/fail/
// silent .example.test, and `extra` names given to it (A records).
import type { Stack } from '../../src/stack/host.js';
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
function answer(q: Query, tcp: boolean, extra: Readonly<Record<string, string>>): number[] | undefined {
  const head = (flags: number, an: number): number[] => [...u16(q.id), ...u16(flags), 0, 1, ...u16(an), 0, 0, 0, 0];
  const qEnd = 12 + q.question.length;
  const known = extra[q.name];
  if (known !== undefined) return [...head(0x8180, 1), ...q.question, ...rr(12, 1, A(known))];
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

export async function dnsServer(host: Stack, extra: Readonly<Record<string, string>> = {}): Promise<{ queries: string[] }> {
  const queries: string[] = [];
  const udp = host.dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    const q = parseQuery(msg);
    queries.push(q.name);
    const reply = answer(q, false, extra);
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
      const reply = Buffer.from(answer(parseQuery(got.subarray(2)), true, extra)!);
      const len = Buffer.alloc(2);
      len.writeUInt16BE(reply.length);
      s.end(Buffer.concat([len, reply]));
    });
  });
  await new Promise<void>((resolve) => tcp.listen(53, resolve));
  return { queries };
}

