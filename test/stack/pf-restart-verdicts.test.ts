// A PF crash mid-transfer: IP asks again only the verdicts PF had taken and not answered.
// The requests still in the ring to PF (its successor reads the same ring) and those whose
// verdict already waits for IP are not asked twice; with a synchronous filter that leaves
// none. The transfer arrives intact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../../src/stack/host.js';
import type { NetSocket } from '../../src/app/net-socket.js';
import { hostPrometheus, hostStatsText } from '../../src/stack/stats-text.js';

test('after a PF crash mid-transfer IP re-asks no verdict still queued to PF or answered; 4 MB intact', { timeout: 120_000 }, async () => {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const host = (name: string, ip: string): Promise<Stack> => createStack({
    // One allow rule keeps PF in the path of every packet (an empty filter is not asked).
    name, filter: 'default allow\nallow', interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
  }, { switches: { sw0: sw } });
  const a = await host('a', '10.0.0.1/24');
  const b = await host('b', '10.0.0.2/24');
  try {
    const rx = createHash('sha256');
    let received = 0;
    let resolveEnd: () => void = () => {};
    const ended = new Promise<void>((r) => { resolveEnd = r; });
    const server = a.net.createServer((s: NetSocket) => {
      s.on('data', (d: Buffer) => { received += d.length; rx.update(d); });
      s.on('end', () => resolveEnd());
    });
    await new Promise<void>((r) => server.listen(9000, r));
    const client = b.net.connect({ port: 9000, host: '10.0.0.1' });
    await new Promise<void>((resolve, reject) => { client.once('connect', resolve); client.once('error', reject); });
    const total = 4 << 20;
    const data = Buffer.alloc(total);
    for (let i = 0; i < total; i += 4) data.writeUInt32BE(i, i);
    const chunk = 64 << 10;
    let crashed = false;
    for (let off = 0; off < total; off += chunk) {
      if (!client.write(data.subarray(off, off + chunk))) await new Promise((r) => client.once('drain', r));
      if (!crashed && off >= total / 4) { crashed = true; a.supervisor.inject('pf', 'crash'); }
    }
    client.end();
    await a.supervisor.whenRunning('pf', 2, 20_000);
    await ended;
    assert.equal(received, total);
    assert.equal(rx.digest('hex'), createHash('sha256').update(data).digest('hex'));
    // Counters reach shared memory within 20 ms.
    await new Promise((r) => setTimeout(r, 100));
    const ip = a.counters().ip['server'] as Record<string, number>;
    assert.equal(a.snapshot().servers.find((s) => s.name === 'pf')!.restarts, 1);
    assert.equal(ip['verdictsReasked'], 0, 'every verdict request pending at the crash was still in a ring');
    client.destroy();
    server.close();
  } finally {
    await b.close();
    await a.close();
  }
});

// A stateful firewall: only the flows PF admitted with "keep state" may send back. Its flow
// table lives in memory that outlives the PF thread, so after a PF crash the server's replies
// on an open connection still pass (a successor with an empty table would drop them all).
test('a stateful filter keeps its flows across a PF crash: an open connection still echoes', { timeout: 60_000 }, async () => {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const a = await createStack({
    name: 'a', filter: 'default drop\nallow in proto tcp to any port 7 flags S/SA keep state',
    interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.0.0.1/24'] }],
  }, { switches: { sw0: sw } });
  const b = await createStack({ name: 'b', interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.0.0.2/24'] }] }, { switches: { sw0: sw } });
  let timer: NodeJS.Timeout | undefined;
  try {
    const server = a.net.createServer((s: NetSocket) => s.pipe(s));
    await new Promise<void>((r) => server.listen(7, r));
    const c = b.net.connect({ port: 7, host: '10.0.0.1' });
    await new Promise<void>((resolve, reject) => { c.once('connect', resolve); c.once('error', reject); });
    let echoed = '';
    c.on('data', (d: Buffer) => { echoed += d.toString(); });
    const echoedBy = (text: string, what: string): Promise<void> => new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: echoed so far ${JSON.stringify(echoed)}`)), 10_000);
      const look = (): void => { if (echoed.endsWith(text)) { clearTimeout(timer); resolve(); } else setTimeout(look, 10); };
      look();
    });
    c.write('before ');
    await echoedBy('before ', 'the echo before the crash');
    // PF's warm standby: it rehearsed the filter's hot path (on made-up packets) before it said armed.
    const armed = (): boolean => a.supervisor.events.some((e) => e.type === 'standby' && e.server === 'pf' && e.detail?.['action'] === 'armed');
    for (const t0 = Date.now(); !armed() && Date.now() - t0 < 10_000;) await new Promise((r) => setTimeout(r, 20));
    const pfEvents = a.supervisor.events.filter((e) => e.server === 'pf');
    const rehearsed = pfEvents.findIndex((e) => e.type === 'log' && e.detail?.['event'] === 'rehearsed');
    assert.ok(rehearsed >= 0 && rehearsed < pfEvents.findIndex((e) => e.type === 'standby' && e.detail?.['action'] === 'armed'), 'the standby rehearsed, then said armed');
    assert.equal(pfEvents[rehearsed]!.detail?.['verdicts'], 4000);
    const before = a.pfStats();
    assert.deepEqual([before.states, before.statesCreated, before.ruleHits], [1, 1, [1]], 'one flow, admitted by the SYN rule');
    const gen = a.supervisor.generation('pf');
    a.supervisor.inject('pf', 'crash');
    await a.supervisor.whenRunning('pf', gen + 1, 20_000);
    c.write('after');
    await echoedBy('after', 'the echo after the PF crash (its replies need the flow PF admitted before)');
    assert.equal(echoed, 'before after');
    // The counters went on from where the dead filter left them.
    const after = a.pfStats();
    assert.equal(after.states, 1);
    assert.ok(after.evaluated > before.evaluated && after.stateHits > before.stateHits, `evaluated ${before.evaluated} -> ${after.evaluated}, state hits ${before.stateHits} -> ${after.stateHits}`);
    assert.deepEqual(after.ruleHits, [1]);
    assert.match(hostPrometheus('a', a), /^newtos_pf_states\{host="a"\} 1$/m);
    assert.match(hostStatsText('a', a), /pf +evaluated \d+ .*states 1 /);
    assert.equal(a.snapshot().servers.find((s) => s.name === 'pf')!.restarts, 1);
    assert.equal(a.supervisor.recoveries.find((r) => r.server === 'pf')?.standby, true, 'the standby took over');
    c.destroy();
    server.close();
  } finally {
    clearTimeout(timer);
    await b.close();
    await a.close();
  }
});

// limits.filterStates sizes the state table; a full one gives a new flow the place of one
// that never completed (here unanswered UDP flows), so a real connection still gets its state.
test('limits.filterStates bounds the state table; a full table of unanswered flows still admits a TCP connection', { timeout: 60_000 }, async () => {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const a = await createStack({
    name: 'a', limits: { filterStates: 16 },
    filter: 'default drop\nallow in proto udp to any port 9 keep state\nallow in proto tcp to any port 7 flags S/SA keep state',
    interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.0.0.1/24'] }],
  }, { switches: { sw0: sw } });
  const b = await createStack({ name: 'b', interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.0.0.2/24'] }] }, { switches: { sw0: sw } });
  const udp: { close(): void }[] = [];
  try {
    // 40 UDP flows to the discard port (nobody answers): each takes a state.
    for (let i = 0; i < 40; i++) {
      const d = b.dgram.createSocket('udp4');
      udp.push(d);
      await new Promise<void>((resolve, reject) => d.send(Buffer.from('x'), 9, '10.0.0.1', (err) => (err ? reject(err) : resolve())));
    }
    for (const t0 = Date.now(); a.pfStats().statesCreated < 40 && Date.now() - t0 < 10_000;) await new Promise((r) => setTimeout(r, 20));
    const full = a.pfStats();
    assert.equal(full.statesCreated, 40);
    assert.equal(full.states, 16, 'the table holds limits.filterStates flows');
    assert.equal(full.statesEvicted, 24, 'each flow past 16 took an unanswered one\'s place');
    const server = a.net.createServer((s: NetSocket) => s.pipe(s));
    await new Promise<void>((r) => server.listen(7, r));
    const c = b.net.connect({ port: 7, host: '10.0.0.1' });
    await new Promise<void>((resolve, reject) => { c.once('connect', resolve); c.once('error', reject); });
    const echoed = await new Promise<string>((resolve) => { c.once('data', (d: Buffer) => resolve(d.toString())); c.write('hello'); });
    assert.equal(echoed, 'hello', 'the connection\'s replies found its state');
    const after = a.pfStats();
    assert.equal(after.stateTableFull, 0);
    assert.ok(after.statesEvicted >= 25, `the SYN's flow took a place too (${after.statesEvicted})`);
    assert.match(hostPrometheus('a', a), /^newtos_pf_states_evicted_total\{host="a"\} \d+$/m);
    c.destroy();
    server.close();
  } finally {
    for (const d of udp) d.close();
    await b.close();
    await a.close();
  }
});
