/**
 * Ethernet frames over UDP, so virtual machines and remote kernels attach to a
 * newtos host without privileges:
 *
 * - `UdpLink` (kind 'udp'): one raw Ethernet frame per datagram, no header. This
 *   is QEMU's `-netdev dgram,local.type=inet,...,remote.type=inet,...` and
 *   `-netdev socket,udp=HOST:PORT,localaddr=HOST:PORT`.
 * - `VxlanLink` (kind 'vxlan'): RFC 7348 VXLAN, an 8-byte header (I flag, 24-bit
 *   VNI) before the frame, to UDP port 4789 by default. This is Linux's
 *   `ip link add NAME type vxlan id VNI remote ADDR dstport PORT`. Linux sends
 *   from a source port chosen per inner flow (RFC 7348 §5 "Outer UDP Header"),
 *   so only the peer's address is checked on receipt, not its port.
 *
 * A UdpLink without a configured peer takes the first sender as its peer and
 * keeps it (a QEMU restarted on another port needs a new link).
 *
 * Counting: txFrames counts frames handed to the socket; a send that later
 * fails is also counted under 'tx-error'. Sends queued in libuv (not yet
 * accepted by the kernel) are capped (`maxInFlight`): above it `transmit`
 * stops early and the driver retries.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { NewtosError } from '../../errors.js';
import { VXLAN_HEADER_LEN, VXLAN_PORT, VXLAN_VNI_MAX, emitVxlanHeader, parseVxlanHeader } from '../../wire/vxlan.js';
import { randomLocalMac } from './backend.js';
import { QueuedLink } from './queued-link.js';

export interface UdpEndpoint {
  readonly address: string;
  readonly port: number;
}

interface CommonOptions {
  /** Address and port to bind (port 0: any free port; see `localEndpoint`). */
  readonly local: UdpEndpoint;
  /** MAC of the newtos host on this link; random locally administered if absent. */
  readonly mac?: Uint8Array;
  /** Receive queue bound in frames (default 1024); beyond it 'rx-queue-full'. */
  readonly rxQueueFrames?: number;
  /** Sends in flight before `transmit` stops early (default 4096). */
  readonly maxInFlight?: number;
  /** Socket buffer sizes to ask the kernel for, in bytes (default 4 MiB; capped by net.core.*mem_max). */
  readonly socketBufferBytes?: number;
}

export interface UdpLinkOptions extends CommonOptions {
  /** The peer. Absent: the first datagram's sender becomes the peer (until then 'tx-no-peer'). */
  readonly remote?: UdpEndpoint;
  /** IP MTU (default 1500). */
  readonly mtu?: number;
}

export interface VxlanLinkOptions extends CommonOptions {
  /** The remote VTEP: its address, and the port it listens on (default 4789). */
  readonly remote: { readonly address: string; readonly port?: number };
  /** VXLAN network identifier, 0..2^24-1. */
  readonly vni: number;
  /** IP MTU inside the tunnel (default 1450, Linux's default for VXLAN over a 1500-byte underlay). */
  readonly mtu?: number;
}

/** Binds a UDP socket; resolves once bound. */
async function bindSocket(local: UdpEndpoint, bufferBytes: number): Promise<Socket> {
  const socket = createSocket({ type: isIPv6(local.address) ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(local.port, local.address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  for (const set of [() => socket.setRecvBufferSize(bufferBytes), () => socket.setSendBufferSize(bufferBytes)]) {
    try { set(); } catch { /* the kernel caps or refuses: the default still works */ }
  }
  return socket;
}

/** Shared by both UDP formats: a bound socket, a peer, capped sends in flight. */
abstract class DatagramLink extends QueuedLink {
  private readonly maxInFlight: number;
  private readonly local: UdpEndpoint;

  constructor(protected readonly socket: Socket, mac: Uint8Array, mtu: number, options: CommonOptions) {
    super(mac, mtu, options.rxQueueFrames);
    const a = socket.address();
    this.local = { address: a.address, port: a.port };
    this.maxInFlight = options.maxInFlight ?? 4096;
    socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
    // Sends without a callback report failure here (after bind, only sends fail).
    socket.on('error', (error) => {
      this.counters.drop('tx-error');
      this.counters.lastError = (error as NodeJS.ErrnoException).code ?? error.message;
    });
  }

  /** The bound address and port (useful after binding port 0). */
  localEndpoint(): UdpEndpoint {
    return this.local;
  }

  protected abstract onDatagram(msg: Buffer, rinfo: RemoteInfo): void;

  /** Sends a datagram the link built (already a copy). */
  protected sendDatagram(datagram: Buffer, port: number, address: string): 'sent' | 'full' {
    // No per-send callback (it costs ~30% of a send); libuv's queue of sends
    // not yet accepted by the kernel is the back-pressure signal.
    if (this.socket.getSendQueueCount() >= this.maxInFlight) return 'full';
    this.socket.send(datagram, port, address);
    return 'sent';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}

/** One raw Ethernet frame per UDP datagram (QEMU dgram / socket,udp=). */
export class UdpLink extends DatagramLink {
  readonly kind = 'udp';
  private peer: UdpEndpoint | undefined;

  private constructor(socket: Socket, mac: Uint8Array, options: UdpLinkOptions) {
    super(socket, mac, options.mtu ?? 1500, options);
    this.peer = options.remote;
  }

  static async open(options: UdpLinkOptions): Promise<UdpLink> {
    const mac = options.mac ?? randomLocalMac((n) => randomBytes(n));
    const socket = await bindSocket(options.local, options.socketBufferBytes ?? 4 << 20);
    try {
      return new UdpLink(socket, mac, options);
    } catch (e) {
      socket.close();
      throw e;
    }
  }

  get name(): string {
    const l = this.localEndpoint();
    const p = this.peer;
    return `udp ${l.address}:${l.port} <-> ${p === undefined ? '?' : `${p.address}:${p.port}`}`;
  }

  /** The current peer (configured, or learnt from the first datagram). */
  remoteEndpoint(): UdpEndpoint | undefined {
    return this.peer;
  }

  protected onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    const peer = this.peer;
    if (peer === undefined) {
      this.peer = { address: rinfo.address, port: rinfo.port }; // learnt once, then fixed
    } else if (peer.address !== rinfo.address || peer.port !== rinfo.port) {
      this.counters.drop('rx-foreign-peer');
      return;
    }
    this.deliver(msg);
  }

  protected send(frame: Uint8Array): 'sent' | 'dropped' | 'full' {
    const peer = this.peer;
    if (peer === undefined) { this.counters.drop('tx-no-peer'); return 'dropped'; }
    const datagram = Buffer.allocUnsafe(frame.length);
    datagram.set(frame);
    return this.sendDatagram(datagram, peer.port, peer.address);
  }
}

/** RFC 7348 VXLAN: frames behind an 8-byte header with a 24-bit VNI. */
export class VxlanLink extends DatagramLink {
  readonly kind = 'vxlan';
  readonly vni: number;
  private readonly remoteAddress: string;
  private readonly remotePort: number;

  private constructor(socket: Socket, mac: Uint8Array, options: VxlanLinkOptions) {
    super(socket, mac, options.mtu ?? 1450, options);
    this.vni = options.vni;
    this.remoteAddress = options.remote.address;
    this.remotePort = options.remote.port ?? VXLAN_PORT;
  }

  static async open(options: VxlanLinkOptions): Promise<VxlanLink> {
    if (!Number.isInteger(options.vni) || options.vni < 0 || options.vni > VXLAN_VNI_MAX) {
      throw new NewtosError('ERR_INVALID_ARG_VALUE', `The argument 'vni' must be an integer in 0..${VXLAN_VNI_MAX}, got ${options.vni}`);
    }
    const mac = options.mac ?? randomLocalMac((n) => randomBytes(n));
    const socket = await bindSocket(options.local, options.socketBufferBytes ?? 4 << 20);
    try {
      return new VxlanLink(socket, mac, options);
    } catch (e) {
      socket.close();
      throw e;
    }
  }

  get name(): string {
    const l = this.localEndpoint();
    return `vxlan vni ${this.vni} ${l.address}:${l.port} <-> ${this.remoteAddress}:${this.remotePort}`;
  }

  protected onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    if (rinfo.address !== this.remoteAddress) { this.counters.drop('rx-foreign-peer'); return; }
    const header = parseVxlanHeader(msg);
    if (!header.ok) { this.counters.drop('rx-bad-encap'); return; }
    if (header.value !== this.vni) { this.counters.drop('rx-wrong-vni'); return; }
    this.deliver(msg.subarray(VXLAN_HEADER_LEN));
  }

  protected send(frame: Uint8Array): 'sent' | 'dropped' | 'full' {
    const datagram = Buffer.allocUnsafe(VXLAN_HEADER_LEN + frame.length);
    emitVxlanHeader(datagram, 0, this.vni);
    datagram.set(frame, VXLAN_HEADER_LEN);
    return this.sendDatagram(datagram, this.remotePort, this.remoteAddress);
  }
}
