/**
 * newtos against the Linux kernel's TCP/IP over a TAP device (issue 5, evidence).
 *
 * The stack opens a TAP device (it appears in the root namespace, opened by the
 * driver worker); the test then moves the device into a namespace it made and
 * gives the kernel's side an address in newtos's /24. The open fd stays
 * attached, so the kernel in that namespace and newtos share one Ethernet link:
 *
 *   newtos (10.77.X.2) ── TAP fd ══ DEV (10.77.X.1, in namespace NS) ── Linux
 *
 * Cases: ping (ARP + ICMP in the IP server), curl downloading 10 MB from an
 * unmodified http.Server on newtos and uploading 10 MB to it, newtos's http client downloading 10 MB from
 * Python's http.server, an nmap SYN scan seeing exactly newtos's listeners, and
 * a capture showing window scaling, SACK-permitted and timestamps negotiated
 * with Linux in both directions. Needs root (namespaces, TAP); skipped otherwise.
 *
 * NEWTOS_INTEROP_VERBOSE=1 prints the throughput of the two transfers;
 * NEWTOS_DEBUG_TCP_MS=2000 additionally prints the servers' debug counters.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rig, missingTools, rigUnavailableReason } from '../support/netns.js';
import { exited, sha, startIn } from '../support/linux-peer.js';
import { createStack, type Stack } from '../../src/stack/host.js';
import { loadTapAddon } from '../../src/driver/nic/tap.js';
import type { NetServer } from '../../src/app/net-server.js';
import type { DriverStats } from '../../src/driver/driver-stats.js';

const SIZE = 10 * 1024 * 1024;
const HTTP_PORT = 8080;
/** Ports newtos listens on besides HTTP_PORT (plain net servers), for the scan. */
const EXTRA_PORTS = [22, 80] as const;
const LINUX_HTTP_PORT = 8000;
const LINUX_UDP_PORT = 7000;
const verbose = process.env['NEWTOS_INTEROP_VERBOSE'] === '1' || Number(process.env['NEWTOS_DEBUG_TCP_MS'] ?? 0) > 0;

/** Why this file cannot run here, or ''. */
function unavailable(): string {
  const rig = rigUnavailableReason();
  if (rig !== '') return rig;
  try {
    loadTapAddon();
  } catch (e) {
    return `needs the TAP addon: ${(e as Error).message}`;
  }
  const missing = missingTools(['ping', 'curl', 'python3', 'nmap', 'tcpdump', 'tshark']);
  if (missing.length > 0) return `needs the tools ${missing.join(', ')} (not installed)`;
  return '';
}

const skipReason = unavailable();

/** The SYN and SYN-ACK options of one handshake, read back from a pcap by tshark. */
interface SynOptions { ack: boolean; src: string; mss: number; wscale: number | null; sackPerm: boolean; tsval: number | null }

function synOptions(pcap: string): SynOptions[] {
  const res = spawnSync('tshark', ['-r', pcap, '-Y', 'tcp.flags.syn == 1', '-T', 'fields', '-E', 'separator=/t',
    '-e', 'tcp.flags.ack', '-e', 'ip.src', '-e', 'tcp.options.mss_val', '-e', 'tcp.options.wscale.shift',
    '-e', 'tcp.options.sack_perm', '-e', 'tcp.options.timestamp.tsval'], { encoding: 'utf8', timeout: 30_000 });
  if (res.status !== 0) throw new Error(`tshark failed: ${res.stderr}`);
  return res.stdout.trim().split('\n').filter((l) => l !== '').map((line) => {
    const [ack, src, mss, ws, sack, ts] = line.split('\t');
    const flag = (s: string | undefined): boolean => s !== undefined && s !== '' && s !== '0' && s !== 'False';
    return {
      ack: flag(ack), src: src ?? '', mss: Number(mss),
      wscale: ws !== undefined && ws !== '' ? Number(ws) : null,
      sackPerm: sack !== undefined && sack !== '',
      tsval: ts !== undefined && ts !== '' ? Number(ts) : null,
    };
  });
}

describe('newtos and the Linux kernel over a TAP device', { skip: skipReason === '' ? false : skipReason, timeout: 180_000 }, () => {
  const rig = new Rig();
  const subnet = randomInt(1, 255);
  const newtosIp = `10.77.${subnet}.2`;
  const linuxIp = `10.77.${subnet}.1`;
  const dev = rig.linkName('nt');
  const dir = mkdtempSync(join(tmpdir(), 'newtos-interop-'));
  const served = randomBytes(SIZE);
  const servedSha = sha(served);
  let ns = '';
  let stack: Stack | undefined;
  const listeners: NetServer[] = [];
  let httpServer: http.Server | undefined;
  const children: ChildProcess[] = [];
  const figures: string[] = [];

  /** The driver's counters once `ok` holds (they are published every 100 ms while frames move), or after 3 s. */
  const driverStatsWhen = async (ok: (s: DriverStats) => boolean): Promise<DriverStats> => {
    for (let i = 0; i < 30 && !ok(stack!.driverStats()); i++) await new Promise((r) => setTimeout(r, 100));
    return stack!.driverStats();
  };

  before(async () => {
    ns = await rig.netns();
    stack = await createStack({
      name: 'interop',
      interfaces: [{ name: 'eth0', link: { type: 'tap', device: dev }, addresses: [`${newtosIp}/24`] }],
    });
    rig.adoptRootLink(dev);
    if (verbose) {
      stack.supervisor.on('event', (e: { type: string; server?: string; detail?: unknown }) => {
        if (e.type === 'log') console.error(`[${e.server ?? '?'}]`, JSON.stringify(e.detail));
      });
    }
    await rig.moveLink(dev, ns);
    await rig.addr(ns, dev, `${linuxIp}/24`);
    await rig.up(ns, dev);

    httpServer = http.createServer((req, res) => {
      if (req.method === 'POST') {
        // Uploads: answer with the sha256 and length of what arrived.
        const hash = createHash('sha256');
        let length = 0;
        req.on('data', (c: Buffer) => { hash.update(c); length += c.length; });
        req.on('end', () => res.end(`${hash.digest('hex')} ${length}`));
        return;
      }
      // GET /?size=N serves the first N bytes of `served` (default all).
      const size = Math.min(SIZE, Number(new URL(req.url ?? '/', 'http://x').searchParams.get('size') ?? SIZE));
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
      res.end(served.subarray(0, size));
    });
    listeners.push(stack.http.serve(httpServer, HTTP_PORT));
    for (const port of EXTRA_PORTS) {
      const s = stack.net.createServer((sock) => sock.end('newtos\n'));
      listeners.push(s);
      await new Promise<void>((resolve) => s.listen(port, resolve));
    }
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const l of listeners) l.close();
    httpServer?.closeAllConnections?.();
    await stack?.close();
    rig.cleanup();
    rmSync(dir, { recursive: true, force: true });
    if (figures.length > 0) console.error(`linux interop throughput (MTU 1500): ${figures.join('; ')}`);
  });

  test('ping from Linux reaches newtos (ARP and ICMP echo in the IP server)', { timeout: 30_000 }, async () => {
    const r = await rig.exec(ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', newtosIp], { allowFailure: true, timeoutMs: 20_000 });
    assert.equal(r.code, 0, `ping failed:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /3 packets transmitted, 3 received/);
    // The kernel learned newtos's MAC over ARP.
    const neigh = await rig.ip(ns, 'neigh', 'show', newtosIp);
    assert.match(neigh.stdout, /lladdr [0-9a-f:]{17}/);
  });

  test('curl in the namespace downloads 10 MB from an http.Server on newtos', { timeout: 60_000 }, async () => {
    const out = join(dir, 'from-newtos.bin');
    const r = await rig.exec(ns, ['curl', '-sS', '--max-time', '45', '-o', out,
      '-w', '%{http_code} %{size_download} %{time_total}', `http://${newtosIp}:${HTTP_PORT}/`], { allowFailure: true, timeoutMs: 50_000 });
    assert.equal(r.code, 0, `curl failed (${r.code}): ${r.stderr}`);
    const [code, bytes, seconds] = r.stdout.trim().split(' ');
    assert.equal(code, '200');
    assert.equal(Number(bytes), SIZE);
    assert.equal(sha(readFileSync(out)), servedSha);
    figures.push(`newtos→Linux ${(Number(bytes) / Number(seconds) / 1e6).toFixed(1)} MB/s (${bytes} B in ${seconds} s, curl)`);
    // The TAP has a virtio-net header (the default): TCP's bursts crossed it whole, for the kernel to segment.
    const d = await driverStatsWhen((s) => s.tsoBursts > 0);
    assert.ok(d.tsoBursts > 0 && d.gsoBursts === 0, `bursts handed whole to the kernel: ${JSON.stringify(d)}`);
  });

  test('a slow Linux reader with a tiny receive buffer (small and zero windows) gets every byte', { timeout: 60_000 }, async () => {
    // The kernel advertises windows below two segments, and closes the window
    // while the reader pauses every 64 KiB: newtos must respect the small
    // windows, probe the closed one (RFC 9293 §3.8.6.1) and resume.
    const size = 1024 * 1024;
    const script = [
      'import socket, hashlib, sys, time',
      's = socket.socket()',
      's.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)',
      's.settimeout(20)',
      `s.connect(('${newtosIp}', ${HTTP_PORT}))`,
      `s.sendall(b'GET /?size=${size} HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')`,
      'buf = b""',
      'while True:',
      '    c = s.recv(2048)',
      '    if not c: break',
      '    buf += c',
      '    time.sleep(0.05 if len(buf) // 65536 != (len(buf) - len(c)) // 65536 else 0.001)',
      'head, _, body = buf.partition(b"\\r\\n\\r\\n")',
      'print(head.split(b" ")[1].decode(), len(body), hashlib.sha256(body).hexdigest())',
    ].join('\n');
    const r = await rig.exec(ns, ['python3', '-c', script], { allowFailure: true, timeoutMs: 50_000 });
    assert.equal(r.code, 0, `python reader failed: ${r.stderr}`);
    const [code, length, hash] = r.stdout.trim().split(' ');
    assert.equal(code, '200');
    assert.equal(Number(length), size);
    assert.equal(hash, sha(served.subarray(0, size)));
  });

  test('curl in the namespace uploads 10 MB to an http.Server on newtos', { timeout: 60_000 }, async () => {
    const file = join(dir, 'upload.bin');
    const upload = randomBytes(SIZE);
    writeFileSync(file, upload);
    const r = await rig.exec(ns, ['curl', '-sS', '--max-time', '45', '-H', 'Expect:', '--data-binary', `@${file}`,
      '-w', ' %{http_code} %{size_upload} %{time_total}', `http://${newtosIp}:${HTTP_PORT}/upload`], { allowFailure: true, timeoutMs: 50_000 });
    assert.equal(r.code, 0, `curl failed (${r.code}): ${r.stderr}`);
    const [hash, length, code, bytes, seconds] = r.stdout.trim().split(' ');
    assert.equal(code, '200');
    assert.equal(Number(length), SIZE);
    assert.equal(hash, sha(upload));
    figures.push(`Linux→newtos ${(Number(bytes) / Number(seconds) / 1e6).toFixed(1)} MB/s (${bytes} B in ${seconds} s, curl upload)`);
    // The kernel's TSO sent its own super-frames (larger than the MTU) across the TAP.
    const d = await driverStatsWhen((s) => s.rxSuperFrames > 0);
    assert.ok(d.rxSuperFrames > 0, `super-frames received: ${JSON.stringify(d)}`);
  });

  test('newtos http client downloads 10 MB from Python http.server in the namespace', { timeout: 60_000 }, async () => {
    const file = randomBytes(SIZE);
    writeFileSync(join(dir, 'file.bin'), file);
    const server = await startIn(ns, ['python3', '-u', '-m', 'http.server', '--bind', linuxIp, '--directory', dir, String(LINUX_HTTP_PORT)],
      /Serving HTTP/);
    children.push(server.child);
    const agent = stack!.http.agent();
    try {
      const started = performance.now();
      const body = await new Promise<Buffer>((resolve, reject) => {
        const req = http.request({ host: linuxIp, port: LINUX_HTTP_PORT, path: '/file.bin', agent }, (res) => {
          if (res.statusCode !== 200) { reject(new Error(`status ${String(res.statusCode)}`)); res.resume(); return; }
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.setTimeout(45_000, () => req.destroy(new Error('newtos http client: no progress for 45 s')));
        req.end();
      });
      const seconds = (performance.now() - started) / 1000;
      assert.equal(body.length, SIZE);
      assert.equal(sha(body), sha(file));
      figures.push(`Linux→newtos ${(SIZE / seconds / 1e6).toFixed(1)} MB/s (${SIZE} B in ${seconds.toFixed(3)} s, http.request)`);
    } finally {
      agent.destroy();
      server.child.kill('SIGTERM');
      await exited(server.child, 5000);
    }
  });

  test('newtos connecting to a closed Linux port gets ECONNREFUSED (the kernel\'s RST)', { timeout: 30_000 }, async () => {
    const err = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
      const sock = stack!.net.connect({ port: 9, host: linuxIp });
      sock.on('connect', () => reject(new Error('connected to a closed port')));
      sock.on('error', resolve);
    });
    assert.equal(err.code, 'ECONNREFUSED');
  });

  test('newtos connecting to an address nobody answers ARP for gets EHOSTUNREACH', { timeout: 60_000 }, async () => {
    // 10.77.X.3 is in the test's /24 but on no interface: ARP fails (RFC 1122 §2.3.2.2).
    const started = performance.now();
    const err = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
      const sock = stack!.net.connect({ port: 80, host: `10.77.${subnet}.3` });
      sock.on('connect', () => reject(new Error('connected to an absent host')));
      sock.on('error', resolve);
    });
    assert.equal(err.code, 'EHOSTUNREACH', `got ${String(err.code)} after ${Math.round(performance.now() - started)} ms`);
  });

  test('UDP: newtos datagrams (up to 3000 bytes: fragmented both ways) echoed by a Linux UDP socket', { timeout: 60_000 }, async () => {
    const echo = await startIn(ns, ['python3', '-u', '-c', [
      'import socket',
      's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      `s.bind(('${linuxIp}', ${LINUX_UDP_PORT}))`,
      'print("ready")',
      'while True:',
      '    d, a = s.recvfrom(65535)',
      '    s.sendto(d, a)',
    ].join('\n')], /ready/);
    children.push(echo.child);
    const sock = stack!.dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve) => sock.bind(0, () => resolve()));
      for (const size of [1, 512, 1472, 3000]) {
        const data = randomBytes(size);
        // UDP may lose a datagram (ARP on the first one): resend up to 3 times, compare what comes back.
        let got: Buffer | undefined;
        for (let attempt = 0; attempt < 3 && got === undefined; attempt++) {
          got = await new Promise<Buffer | undefined>((resolve) => {
            const timer = setTimeout(() => { sock.off('message', onMessage); resolve(undefined); }, 3000);
            const onMessage = (msg: Buffer, rinfo: { address: string; port: number }): void => {
              if (rinfo.address !== linuxIp || rinfo.port !== LINUX_UDP_PORT) return;
              clearTimeout(timer); sock.off('message', onMessage); resolve(msg);
            };
            sock.on('message', onMessage);
            sock.send(data, LINUX_UDP_PORT, linuxIp);
          });
        }
        assert.ok(got !== undefined, `no echo of a ${size}-byte datagram`);
        assert.equal(sha(got), sha(data), `${size}-byte datagram echoed intact`);
      }
    } finally {
      sock.close();
      echo.child.kill('SIGTERM');
      await exited(echo.child, 5000);
    }
  });

  test('nmap SYN scan from Linux sees exactly the ports newtos listens on', { timeout: 60_000 }, async () => {
    const r = await rig.exec(ns, ['nmap', '-sS', '-p', '1-100,8080', '-Pn', '-n', '-T4', '-oG', '-', newtosIp],
      { allowFailure: true, timeoutMs: 50_000 });
    assert.equal(r.code, 0, `nmap failed: ${r.stderr}`);
    const line = r.stdout.split('\n').find((l) => l.includes('Ports:'));
    assert.ok(line !== undefined, `no Ports: line in nmap output:\n${r.stdout}`);
    const ports = line.slice(line.indexOf('Ports:') + 6).split('\t')[0]!.split(',').map((p) => p.trim().split('/'));
    const open = ports.filter((p) => p[1] === 'open').map((p) => Number(p[0])).sort((a, b) => a - b);
    assert.deepEqual(open, [...EXTRA_PORTS, HTTP_PORT].sort((a, b) => a - b));
    // Every other scanned port answered with a RST (closed), none was silent (filtered).
    const ignored = /Ignored State: (\w+) \((\d+)\)/.exec(line);
    const explicit = ports.filter((p) => p[1] !== 'open');
    assert.ok(explicit.every((p) => p[1] === 'closed'), `ports not open nor closed: ${line}`);
    const closedCount = explicit.length + (ignored !== null && ignored[1] === 'closed' ? Number(ignored[2]) : 0);
    assert.equal(closedCount, 101 - open.length, `nmap line: ${line}`);
  });

  test('window scaling, SACK-permitted and timestamps are negotiated with Linux both ways', { timeout: 60_000 }, async () => {
    const pcap = join(dir, 'syn.pcap');
    const dump = await startIn(ns, ['tcpdump', '-i', dev, '-n', '-U', '-w', pcap, '-c', '4',
      `tcp[tcpflags] & tcp-syn != 0 and (port ${HTTP_PORT} or port ${LINUX_HTTP_PORT})`], /listening on/);
    children.push(dump.child);
    // Linux → newtos: a HEAD request is enough for the handshake.
    const c = await rig.exec(ns, ['curl', '-sS', '-I', '--max-time', '20', '-o', '/dev/null', '-w', '%{http_code}',
      `http://${newtosIp}:${HTTP_PORT}/`], { allowFailure: true, timeoutMs: 25_000 });
    assert.equal(c.stdout, '200', `curl: ${c.stderr}`);
    // newtos → Linux: a connection to Python's http.server.
    const server = await startIn(ns, ['python3', '-u', '-m', 'http.server', '--bind', linuxIp, '--directory', dir, String(LINUX_HTTP_PORT)],
      /Serving HTTP/);
    children.push(server.child);
    const agent = stack!.http.agent();
    try {
      writeFileSync(join(dir, 'small.txt'), 'hello\n');
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.get({ host: linuxIp, port: LINUX_HTTP_PORT, path: '/small.txt', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.setTimeout(20_000, () => req.destroy(new Error('timeout')));
      });
      assert.equal(status, 200);
    } finally {
      agent.destroy();
      server.child.kill('SIGTERM');
      await exited(server.child, 5000);
    }
    const done = await exited(dump.child, 10_000);
    if (!done) { dump.child.kill('SIGINT'); await exited(dump.child, 5000); }
    const syns = synOptions(pcap);
    const handshake = (client: string, server: string): [SynOptions | undefined, SynOptions | undefined] =>
      [syns.find((s) => !s.ack && s.src === client), syns.find((s) => s.ack && s.src === server)];
    for (const [client, srv, label] of [[linuxIp, newtosIp, 'Linux → newtos'], [newtosIp, linuxIp, 'newtos → Linux']] as const) {
      const [syn, synAck] = handshake(client, srv);
      assert.ok(syn !== undefined && synAck !== undefined, `${label}: SYN and SYN-ACK captured (got ${JSON.stringify(syns)})`);
      for (const [what, seg] of [['SYN', syn], ['SYN-ACK', synAck]] as const) {
        // RFC 7323 §2.2 / §3.2 and RFC 2018 §2: each side offers the options in its SYN.
        assert.ok(seg.wscale !== null, `${label} ${what}: window scale option`);
        assert.ok(seg.sackPerm, `${label} ${what}: SACK-permitted option`);
        assert.ok(seg.tsval !== null, `${label} ${what}: timestamps option`);
        assert.ok(seg.mss >= 1 && seg.mss <= 1460, `${label} ${what}: MSS ${seg.mss} fits MTU 1500`);
      }
    }
  });
});
