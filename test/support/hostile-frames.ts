/**
 * Hostile Ethernet frames from the Linux side of a link, built byte by byte
 * with Python's struct (no scapy) and sent with an AF_PACKET raw socket:
 *
 *   python3 -u -c HOSTILE_FRAMES_PY DEV NEWTOS_MAC LINUX_IP NEWTOS_IP LIVE_SPORT LIVE_DPORT CLOSED_PORT
 *
 * It prints "ready", then sends one round of every case, again and again
 * (a fresh IP identification per round, so fragment cases never combine
 * across rounds), until SIGTERM; then it prints one JSON line: rounds sent
 * and per case the frames of one round.
 *
 * The cases, and where newtos must count them (see HOSTILE_CASES):
 * - link: a bare Ethernet header (IPv4 EtherType, nothing after it), frames over the MTU (1600 bytes: over MTU + 18;
 *   9000 bytes: over the receive buffer), a frame to another MAC, an
 *   unknown EtherType, a truncated ARP packet;
 * - IPv4 header: truncated (10 bytes), version 6, IHL 4, total length past the
 *   frame's end, a bad header checksum;
 * - TCP aimed at the live connection's 4-tuple: a bad checksum, a truncated
 *   header, a data offset of 3 words, a data offset past the segment;
 * - TCP options (checksum good) on a SYN to a closed port: option length 0,
 *   length 1, an MSS option running past the header — parsed as Linux does
 *   (parsing stops, the segment is kept), so the port answers with a RST;
 * - ICMP with a bad checksum;
 * - fragments: two overlapping, two "last" fragments that disagree on the end,
 *   a non-final fragment whose length is not a multiple of 8, one ending past
 *   65535 bytes, an exact duplicate with different bytes (first copy wins:
 *   the second is dropped as a duplicate; the datagram never completes).
 *
 * Not here: runts shorter than an Ethernet header. AF_PACKET refuses them
 * (EINVAL without CAP_SYS_RAWIO, which this container lacks), so the kernel
 * cannot put one on a TAP link; the driver's rx-runt check is unit-tested.
 */

export const HOSTILE_FRAMES_PY = `
import socket, struct, sys, time, json, os, signal, random
dev, mac_s, src_s, dst_s = sys.argv[1:5]
live_sport, live_dport, closed_port = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
ours = s.getsockname()[4]
newtos = bytes.fromhex(mac_s.replace(':', ''))
SRC, DST = socket.inet_aton(src_s), socket.inet_aton(dst_s)

def csum(b):
    if len(b) % 2: b += b'\\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff

def eth(payload, ethertype=0x0800, dst=None):
    return (dst or newtos) + ours + struct.pack('!H', ethertype) + payload

def ipv4(payload, proto, ident, frag=0, version=4, ihl=5, total=None, bad=False):
    h = struct.pack('!BBHHHBBH4s4s', (version << 4) | ihl, 0, 20 + len(payload) if total is None else total,
                    ident, frag, 64, proto, 0, SRC, DST)
    c = csum(h) ^ (0x5a5a if bad else 0)
    return h[:10] + struct.pack('!H', c) + h[12:] + payload

def tcp(sport, dport, flags, options=b'', payload=b'', doff=None, bad=False, seq=None):
    off = (20 + len(options)) // 4 if doff is None else doff
    h = struct.pack('!HHIIBBHHH', sport, dport, random.getrandbits(32) if seq is None else seq, 0, off << 4, flags, 65535, 0, 0) + options
    c = csum(SRC + DST + struct.pack('!BBH', 0, 6, len(h) + len(payload)) + h + payload) ^ (0x1234 if bad else 0)
    return h[:16] + struct.pack('!H', c) + h[18:] + payload

def icmp_echo(bad=False):
    m = struct.pack('!BBHHH', 8, 0, 0, 0x4242, 1) + b'hostile!' * 4
    c = csum(m) ^ (0x0f0f if bad else 0)
    return m[:2] + struct.pack('!H', c) + m[4:]

MF = 0x2000
def cases(ident):
    data = bytes(range(64))
    ident = ident & 0xffff
    i = lambda k: (ident + k) & 0xffff
    return {
        'ethernet-header-only': [eth(b'')],
        'over-mtu': [eth(ipv4(b'\\0' * 1566, 17, i(0)))],
        'over-buffer': [eth(ipv4(b'\\0' * 8966, 17, i(1)))],
        'not-for-us': [eth(ipv4(tcp(live_sport, live_dport, 0x10), 6, i(2)), dst=b'\\x02\\x00\\x00\\x00\\x00\\x01')],
        'unknown-ethertype': [eth(b'\\0' * 46, ethertype=0x88b5)],
        'arp-truncated': [eth(b'\\x00\\x01\\x08\\x00\\x06\\x04', ethertype=0x0806)],
        'ip-truncated': [eth(ipv4(b'', 6, i(3))[:10])],
        'ip-bad-version': [eth(ipv4(tcp(live_sport, live_dport, 0x10), 6, i(4), version=6))],
        'ip-bad-header-length': [eth(ipv4(tcp(live_sport, live_dport, 0x10), 6, i(5), ihl=4))],
        'ip-total-length-past-frame': [eth(ipv4(tcp(live_sport, live_dport, 0x10), 6, i(6), total=1400))],
        'ip-bad-checksum': [eth(ipv4(tcp(live_sport, live_dport, 0x18, payload=data), 6, i(7), bad=True))],
        'tcp-bad-checksum': [eth(ipv4(tcp(live_sport, live_dport, 0x18, payload=data, bad=True), 6, i(8)))],
        'tcp-truncated': [eth(ipv4(tcp(live_sport, live_dport, 0x10)[:10], 6, i(9)))],
        'tcp-data-offset-3': [eth(ipv4(tcp(live_sport, live_dport, 0x18, payload=data, doff=3), 6, i(10)))],
        'tcp-data-offset-past-end': [eth(ipv4(tcp(live_sport, live_dport, 0x10, doff=15), 6, i(11)))],
        'tcp-option-length-0': [eth(ipv4(tcp(random.randint(1024, 65535), closed_port, 0x02, options=b'\\x02\\x00\\x05\\xb4'), 6, i(12)))],
        'tcp-option-length-1': [eth(ipv4(tcp(random.randint(1024, 65535), closed_port, 0x02, options=b'\\x08\\x01\\x00\\x00'), 6, i(13)))],
        'tcp-option-overrun': [eth(ipv4(tcp(random.randint(1024, 65535), closed_port, 0x02, options=b'\\x01\\x01\\x02\\x28'), 6, i(14)))],
        'icmp-bad-checksum': [eth(ipv4(icmp_echo(bad=True), 1, i(15)))],
        'frag-overlap': [eth(ipv4(data[:16], 17, i(16), frag=MF | 0)), eth(ipv4(data[:16], 17, i(16), frag=MF | 1))],
        'frag-conflicting-ends': [eth(ipv4(data[:8], 17, i(17), frag=2)), eth(ipv4(data[:8], 17, i(17), frag=3))],
        'frag-bad-length': [eth(ipv4(data[:12], 17, i(18), frag=MF | 0))],
        'frag-past-64k': [eth(ipv4(data[:64], 17, i(19), frag=8190))],
        'frag-duplicate-different-bytes': [eth(ipv4(data[:16], 17, i(20), frag=MF | 0)), eth(ipv4(data[16:32], 17, i(20), frag=MF | 0))],
    }

rounds = 0
errors = {}
def report(*_):
    shape = {k: len(v) for k, v in cases(0).items()}
    print(json.dumps({'rounds': rounds, 'framesPerRound': shape, 'sendErrors': errors}), flush=True)
    os._exit(0)
signal.signal(signal.SIGTERM, report)
ident = random.getrandbits(16)
print('ready', flush=True)
while True:
    for name, frames in cases(ident).items():
        for f in frames:
            try:
                s.send(f)
            except OSError as e:
                errors[name] = errors.get(name, 0) + 1
    rounds += 1
    ident = (ident + 32) & 0xffff
    time.sleep(0.005)
`;

/** Where a case must show up in Stack.counters(): a path into the tree, and drops per round. */
export interface HostileExpectation {
  readonly counter: readonly (string | number)[];
  /** How many increments one round of this case causes at least. */
  readonly perRound: number;
}

/**
 * The counters each case must move (checked as "at least perRound × rounds",
 * summed over the cases that share a counter). Option cases are not drops:
 * Linux keeps such segments too, and the closed port answers with a RST.
 */
export const HOSTILE_CASES: Readonly<Record<string, HostileExpectation>> = {
  // link (the TAP's own checks, then IP's Ethernet checks)
  'over-mtu': { counter: ['links', 0, 'drops', 'rx-oversize'], perRound: 1 },
  'over-buffer': { counter: ['links', 0, 'drops', 'rx-oversize'], perRound: 1 },
  'not-for-us': { counter: ['ip', 'frameDrops', 'frame-not-for-us'], perRound: 1 },
  'unknown-ethertype': { counter: ['ip', 'frameDrops', 'frame-unknown-ethertype'], perRound: 1 },
  'arp-truncated': { counter: ['ip', 'frameDrops', 'arp-truncated'], perRound: 1 },
  // IPv4 header (a total length past the frame's end is "truncated": fewer bytes than it says)
  'ethernet-header-only': { counter: ['ip', 'drops', 'truncated'], perRound: 1 },
  'ip-truncated': { counter: ['ip', 'drops', 'truncated'], perRound: 1 },
  'ip-total-length-past-frame': { counter: ['ip', 'drops', 'truncated'], perRound: 1 },
  'ip-bad-version': { counter: ['ip', 'drops', 'bad-version'], perRound: 1 },
  'ip-bad-header-length': { counter: ['ip', 'drops', 'bad-header-length'], perRound: 1 },
  'ip-bad-checksum': { counter: ['ip', 'drops', 'bad-checksum'], perRound: 1 },
  'icmp-bad-checksum': { counter: ['ip', 'drops', 'icmp-bad-checksum'], perRound: 1 },
  // fragments (one ending past 65535 bytes fails the header check, before reassembly)
  'frag-overlap': { counter: ['ip', 'drops', 'reassembly-overlap'], perRound: 1 },
  'frag-conflicting-ends': { counter: ['ip', 'drops', 'reassembly-conflict'], perRound: 1 },
  'frag-bad-length': { counter: ['ip', 'drops', 'reassembly-bad-length'], perRound: 1 },
  'frag-past-64k': { counter: ['ip', 'drops', 'bad-fragment'], perRound: 1 },
  'frag-duplicate-different-bytes': { counter: ['ip', 'drops', 'reassembly-duplicate'], perRound: 1 },
  // TCP, aimed at the live connection
  'tcp-bad-checksum': { counter: ['tcp', 'dropBadChecksum'], perRound: 1 },
  'tcp-truncated': { counter: ['tcp', 'dropTruncated'], perRound: 1 },
  'tcp-data-offset-3': { counter: ['tcp', 'dropBadDataOffset'], perRound: 1 },
  'tcp-data-offset-past-end': { counter: ['tcp', 'dropBadDataOffset'], perRound: 1 },
  // TCP options: kept as Linux keeps them; the closed port answers each SYN with a RST
  'tcp-option-length-0': { counter: ['tcp', 'rstsOut'], perRound: 1 },
  'tcp-option-length-1': { counter: ['tcp', 'rstsOut'], perRound: 1 },
  'tcp-option-overrun': { counter: ['tcp', 'rstsOut'], perRound: 1 },
};
