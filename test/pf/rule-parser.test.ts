import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatRuleSet, parseRuleSet } from '../../src/pf/rule-parser.js';
import { rule, TcpFlag, type Rule, type RuleSet } from '../../src/pf/rules.js';

test('a documented example parses to the expected plain data', () => {
  const text = `
# Host firewall
default drop
allow out keep state                     # everything we start
allow in on eth0 proto tcp from any to 10.99.0.2 port 22,80,8000-8080 flags S/SA keep state
allow in proto icmp icmp-type echo-request
reject with admin-prohibited in proto udp from !10.0.0.0/8 port 1-1023
drop in on eth1 proto 47
`;
  const r = parseRuleSet(text);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  assert.equal(r.value.defaultAction, 'drop');
  assert.deepEqual(r.value.rules, [
    rule({ action: 'allow', direction: 'out', keepState: true, line: 4 }),
    rule({
      action: 'allow', direction: 'in', iface: 'eth0', protocol: 6, dst: { address: 0x0a630002, prefixLen: 32, negate: false },
      dstPorts: [{ from: 22, to: 22 }, { from: 80, to: 80 }, { from: 8000, to: 8080 }],
      tcpFlags: { set: TcpFlag.SYN, mask: TcpFlag.SYN | TcpFlag.ACK }, keepState: true, line: 5,
    }),
    rule({ action: 'allow', direction: 'in', protocol: 1, icmpType: 8, line: 6 }),
    rule({
      action: 'reject', rejectCode: 13, direction: 'in', protocol: 17, src: { address: 0x0a000000, prefixLen: 8, negate: true },
      srcPorts: [{ from: 1, to: 1023 }], line: 7,
    }),
    rule({ action: 'drop', direction: 'in', iface: 'eth1', protocol: 47, line: 8 }),
  ]);
  // Plain data: survives JSON.
  assert.deepEqual(JSON.parse(JSON.stringify(r.value)), r.value);
});

test('every error is reported with line, column and reason', () => {
  const text = [
    'default maybe', // 1
    'allow in proto tcp', // 2 ok
    'permit in', // 3
    'allow in proto udp to 10.0.0.300', // 4
    'allow in proto icmp to any port 80', // 5
    'allow in proto tcp to any port 90-80', // 6
    'drop in flags S/SA', // 7
    'allow in proto tcp flags X/SA', // 8
    'drop keep state', // 9
    'allow in on', // 10
    'allow in proto tcp extra', // 11
    'allow in proto icmp icmp-type bogus', // 12
    'reject with nothing', // 13
    'allow with port-unreachable', // 14
  ].join('\n');
  const r = parseRuleSet(text);
  assert.ok(!r.ok);
  const got = r.errors.map((e) => [e.line, e.column]);
  assert.deepEqual(got, [[1, 9], [3, 1], [4, 23], [5, 28], [6, 32], [7, 9], [8, 26], [9, 6], [10, 12], [11, 20], [12, 31], [13, 13], [14, 7]]);
  const reasons = r.errors.map((e) => e.reason);
  assert.match(reasons[0]!, /default policy must be/);
  assert.match(reasons[3]!, /'port' needs proto tcp or udp/);
  assert.match(reasons[4]!, /empty port range/);
  assert.match(reasons[5]!, /'flags' needs proto tcp/);
  assert.match(reasons[6]!, /unknown TCP flag 'X'/);
  assert.match(reasons[7]!, /keep state' only makes sense with 'allow'/);
  assert.match(reasons[8]!, /expected an interface name at end of line/);
  assert.match(reasons[9]!, /unexpected 'extra'/);
});

test('duplicate default policy is an error; empty text is an empty rule set with default drop', () => {
  const r = parseRuleSet('default allow\ndefault drop');
  assert.ok(!r.ok && r.errors[0]!.line === 2);
  const e = parseRuleSet('  \n# only comments\n');
  assert.ok(e.ok);
  assert.deepEqual(e.value, { defaultAction: 'drop', rules: [] });
});

const addr = fc.option(fc.record({ address: fc.integer({ min: 0, max: 0xffffffff }), prefixLen: fc.integer({ min: 0, max: 32 }), negate: fc.boolean() })
  .map((a) => ({ ...a, address: a.prefixLen === 0 ? 0 : (a.address & (0xffffffff << (32 - a.prefixLen))) >>> 0 })));
const ports = fc.option(fc.array(fc.tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 100 }))
  .map(([f, d]) => ({ from: f, to: Math.min(65535, f + d) })), { minLength: 1, maxLength: 3 }));
const ruleArb: fc.Arbitrary<Rule> = fc.record({
  action: fc.constantFrom('allow' as const, 'drop' as const, 'reject' as const),
  direction: fc.constantFrom(null, 'in' as const, 'out' as const),
  iface: fc.constantFrom(null, 'eth0', 'tap1'),
  kind: fc.constantFrom('none', 'tcp', 'udp', 'icmp', 'gre'),
  src: addr, dst: addr, srcPorts: ports, dstPorts: ports,
  flags: fc.option(fc.tuple(fc.integer({ min: 1, max: 255 }), fc.integer({ min: 0, max: 255 })).map(([m, s]) => ({ set: s & m, mask: m }))),
  icmpType: fc.option(fc.integer({ min: 0, max: 255 })), icmpCode: fc.option(fc.integer({ min: 0, max: 255 })),
  keep: fc.boolean(), rejectCode: fc.integer({ min: 0, max: 15 }),
}).map((g) => {
  const protocol = { none: null, tcp: 6, udp: 17, icmp: 1, gre: 47 }[g.kind];
  const l4 = protocol === 6 || protocol === 17;
  return rule({
    action: g.action, direction: g.direction, iface: g.iface, protocol,
    src: g.src, dst: g.dst, srcPorts: l4 ? g.srcPorts : null, dstPorts: l4 ? g.dstPorts : null,
    tcpFlags: protocol === 6 ? g.flags : null, icmpType: protocol === 1 ? g.icmpType : null,
    icmpCode: protocol === 1 && g.icmpType !== null ? g.icmpCode : null,
    keepState: g.action === 'allow' && g.keep, rejectCode: g.action === 'reject' ? g.rejectCode : 3,
  });
});

test('round trip: parseRuleSet(formatRuleSet(rs)) = rs', () => {
  fc.assert(fc.property(fc.constantFrom('allow' as const, 'drop' as const), fc.array(ruleArb, { maxLength: 8 }), (d, rules) => {
    const rs: RuleSet = { defaultAction: d, rules };
    const back = parseRuleSet(formatRuleSet(rs));
    assert.ok(back.ok, JSON.stringify(!back.ok && back.errors) + formatRuleSet(rs));
    assert.deepEqual(back.value.rules.map((r) => ({ ...r, line: 0 })), rules);
    assert.equal(back.value.defaultAction, d);
  }), { numRuns: 500 });
});
