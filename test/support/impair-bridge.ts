/**
 * A user-space netem: an Ethernet bridge between two interfaces of one network
 * namespace that loses, duplicates, delays and reorders frames, written in
 * Python (run with `python3 -u -c IMPAIR_BRIDGE_PY A B LOSS DUP REORDER DELAY_MS SEED`).
 *
 * Why not `tc qdisc ... netem`: the kernels this project's CI runs on may lack
 * sch_netem (this machine's has no netem, prio, fq or sfq and cannot load
 * modules), and netem only shapes an interface's egress. The bridge impairs
 * both directions the same way and reports what it did.
 *
 * Semantics follow netem's: each frame is lost with probability LOSS; a kept
 * frame is duplicated with probability DUP (the copy takes the same path);
 * with probability REORDER it is sent at once, otherwise it waits DELAY_MS, so
 * frames sent at once overtake the delayed ones ("reorder 10% delay 1ms").
 *
 * It reads from AF_PACKET sockets bound to each interface, ignoring frames the
 * host itself sent out (PACKET_OUTGOING, which includes its own forwarded
 * copies). Checksums are not touched: the sender must not leave them to
 * offload (turn tx checksumming off on a veth whose frames cross the bridge).
 * On SIGTERM it prints one JSON line of counters per direction and exits.
 */

export const IMPAIR_BRIDGE_PY = `
import socket, select, sys, time, random, heapq, signal, json, os
ETH_P_ALL = 3
PACKET_OUTGOING = 4
names = sys.argv[1:3]
loss, dup, reorder, delay = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]) / 1000.0
rng = random.Random(int(sys.argv[7]))
socks = []
for name in names:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    s.bind((name, 0))
    s.setblocking(False)
    socks.append(s)
stats = [dict(frames=0, lost=0, duplicated=0, reordered=0, delayed=0, sent=0, sendErrors=0) for _ in names]
queue = []
seq = 0
def out(d, frame):
    try:
        socks[1 - d].send(frame)
        stats[d]['sent'] += 1
    except OSError:
        stats[d]['sendErrors'] += 1
def report(*_):
    print(json.dumps({names[0] + '>' + names[1]: stats[0], names[1] + '>' + names[0]: stats[1]}), flush=True)
    os._exit(0)
signal.signal(signal.SIGTERM, report)
# Frames that arrived between socket() and bind() may be from any interface: drop them.
for s in socks:
    try:
        while True: s.recv(65535)
    except BlockingIOError:
        pass
poller = select.poll()
for s in socks: poller.register(s, select.POLLIN)
fd_dir = {s.fileno(): d for d, s in enumerate(socks)}
print('ready', flush=True)
while True:
    timeout = None
    if queue:
        timeout = max(0.0, (queue[0][0] - time.monotonic()) * 1000.0)
    for fd, _ in poller.poll(timeout):
        d = fd_dir[fd]
        s = socks[d]
        for _ in range(64):
            try:
                frame, addr = s.recvfrom(65535)
            except BlockingIOError:
                break
            if addr[2] == PACKET_OUTGOING:
                continue
            st = stats[d]
            st['frames'] += 1
            if rng.random() < loss:
                st['lost'] += 1
                continue
            copies = 1
            if rng.random() < dup:
                st['duplicated'] += 1
                copies = 2
            for _ in range(copies):
                if delay <= 0 or rng.random() < reorder:
                    if delay > 0: st['reordered'] += 1
                    out(d, frame)
                else:
                    st['delayed'] += 1
                    seq += 1
                    heapq.heappush(queue, (time.monotonic() + delay, seq, d, frame))
    now = time.monotonic()
    while queue and queue[0][0] <= now:
        _, _, d, frame = heapq.heappop(queue)
        out(d, frame)
`;

export interface ImpairStats {
  readonly frames: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly reordered: number;
  readonly delayed: number;
  readonly sent: number;
  readonly sendErrors: number;
}

/** The bridge's SIGTERM report: counters by direction ("A>B"), or undefined if absent. */
export function parseImpairReport(output: string): Record<string, ImpairStats> | undefined {
  const line = output.split('\n').reverse().find((l) => l.startsWith('{'));
  return line === undefined ? undefined : JSON.parse(line) as Record<string, ImpairStats>;
}
