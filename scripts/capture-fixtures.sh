#!/usr/bin/env bash
# Captures real Linux traffic between two network namespaces for the wire-format
# fixtures in test/fixtures/linux-capture.{ts,pcap}. Needs root, iproute2, tcpdump,
# tshark, ping, arping (iputils-arping), socat, ethtool and python3. Touches only the
# namespaces and addresses it creates (10.99.0.0/24, 10.99.1.0/24, 10.99.100.0/24).
#
#   nwfix-a: veth-a 02:00:00:00:00:0a 10.99.0.1/24
#   nwfix-b: veth-b 02:00:00:00:00:0b 10.99.0.2/24, veth-bc 10.99.1.2/24 (MTU 1000)
#            towards nwfix-c, forwarding on (router for 10.99.1.0/24)
#
# Traffic, captured with tcpdump on veth-a:
#   arping (request+reply), gratuitous ARP (arping -U), ping, UDP to a closed
#   port (-> ICMP port unreachable), TCP exchange with socat (SYN with options,
#   data, FIN), ping -s 3000 (fragmented both ways), ping -t 1 through the
#   router (-> time exceeded), ping -M do -s 1300 through the router whose next
#   hop MTU is 1000 (-> fragmentation needed).
# The kernel here has no 8021q (nor dummy) module, so the one 802.1Q frame (an
# echo request in VLAN 100, PCP 5) is built by python3 from the captured echo
# request and sent through veth-a with an AF_PACKET socket; tcpdump captures it
# like any other frame. Everything else is produced by the Linux stack itself.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=test/fixtures
A=nwfix-a; B=nwfix-b; C=nwfix-c
WORK=$(mktemp -d)
cleanup() {
  [ -n "${TCPDUMP_PID:-}" ] && kill "$TCPDUMP_PID" 2>/dev/null || true
  [ -n "${SOCAT_PID:-}" ] && kill "$SOCAT_PID" 2>/dev/null || true
  ip netns del $A 2>/dev/null || true
  ip netns del $B 2>/dev/null || true
  ip netns del $C 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ip netns del $A 2>/dev/null || true
ip netns del $B 2>/dev/null || true
ip netns del $C 2>/dev/null || true
ip netns add $A; ip netns add $B; ip netns add $C
ip link add veth-a netns $A type veth peer name veth-b netns $B
for ns in $A $B $C; do
  ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n $ns link set lo up
done
ip -n $A link set veth-a address 02:00:00:00:00:0a
ip -n $B link set veth-b address 02:00:00:00:00:0b
ip -n $A addr add 10.99.0.1/24 dev veth-a
ip -n $B addr add 10.99.0.2/24 dev veth-b
ip -n $A link set veth-a up; ip -n $B link set veth-b up
# veth offloads checksums: without this tcpdump would capture UDP/TCP frames
# whose checksum field holds only the pseudo-header sum.
ip netns exec $A ethtool -K veth-a tx off >/dev/null
ip netns exec $B ethtool -K veth-b tx off >/dev/null
ip link add veth-bc netns $B mtu 1000 type veth peer name veth-cb netns $C mtu 1000
ip -n $B addr add 10.99.1.2/24 dev veth-bc; ip -n $B link set veth-bc up
ip -n $C addr add 10.99.1.3/24 dev veth-cb; ip -n $C link set veth-cb up
ip netns exec $B sysctl -qw net.ipv4.ip_forward=1
ip -n $A route add 10.99.1.0/24 via 10.99.0.2
# Make ICMP errors from B immediate and unlimited for the capture.
ip netns exec $B sysctl -qw net.ipv4.icmp_ratelimit=0

ip netns exec $A tcpdump -i veth-a -w "$WORK/cap.pcap" -U -s 0 2>/dev/null &
TCPDUMP_PID=$!
sleep 1
ip netns exec $A arping -c 1 -I veth-a 10.99.0.2 >/dev/null
ip netns exec $A arping -U -c 1 -I veth-a 10.99.0.1 >/dev/null || true
ip netns exec $A ping -c 1 -p 6e6577746f73 10.99.0.2 >/dev/null
ip netns exec $A python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.99.0.1", 40000))
s.sendto(b"hello newtos", ("10.99.0.2", 9999))
'
sleep 0.2
ip netns exec $B socat -u TCP-LISTEN:8080,bind=10.99.0.2,reuseaddr - >/dev/null &
SOCAT_PID=$!
sleep 0.3
echo "GET / HTTP/1.0" | ip netns exec $A socat -u - TCP:10.99.0.2:8080,sourceport=40001
wait $SOCAT_PID || true
SOCAT_PID=
ip netns exec $A ping -c 1 -s 3000 10.99.0.2 >/dev/null
ip netns exec $A python3 -c '
import socket, struct
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("veth-a", 0))
dst = bytes.fromhex("02000000000b"); src = bytes.fromhex("02000000000a")
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b)); t = (t & 0xffff) + (t >> 16); t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
icmp = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 1) + b"newtos vlan"
icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0x4242, 0x4000, 64, 1, 0, bytes([10,99,100,1]), bytes([10,99,100,2]))
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
tag = struct.pack("!HHH", 0x8100, (5 << 13) | 100, 0x0800)
s.send(dst + src + tag + ip + icmp)
'
ip netns exec $A ping -c 1 -t 1 10.99.1.1 >/dev/null || true
ip netns exec $A ping -c 1 -M do -s 1300 10.99.1.1 >/dev/null || true
sleep 1
kill $TCPDUMP_PID; wait $TCPDUMP_PID 2>/dev/null || true
TCPDUMP_PID=

cp "$WORK/cap.pcap" $OUT/linux-capture.pcap
tshark -r $OUT/linux-capture.pcap -T fields -e _ws.col.Info > "$WORK/info.txt"
python3 - "$OUT/linux-capture.pcap" "$WORK/info.txt" > $OUT/linux-capture.ts <<'PY'
import struct, sys, json
data = open(sys.argv[1], 'rb').read()
infos = open(sys.argv[2]).read().splitlines()
magic = struct.unpack('<I', data[:4])[0]
endian = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
at = 24; frames = []
while at < len(data):
    sec, frac, incl, orig = struct.unpack(endian + 'IIII', data[at:at+16])
    frames.append(data[at+16:at+16+incl].hex()); at += 16 + incl
print('// Generated by scripts/capture-fixtures.sh from real Linux traffic between two')
print('// network namespaces (veth pair, tcpdump -w on veth-a). Do not edit by hand;')
print('// re-run the script as root. Info is the tshark summary of each frame.')
print('export interface CapturedFrame { readonly info: string; readonly hex: string }')
print('export const linuxCapture: readonly CapturedFrame[] = [')
for i, h in enumerate(frames):
    print('  { info: %s, hex: %s },' % (json.dumps(infos[i] if i < len(infos) else ''), json.dumps(h)))
print('];')
PY
echo "captured $(grep -c 'hex:' $OUT/linux-capture.ts) frames"
