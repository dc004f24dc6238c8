/**
 * Synchronous wiring of a PfCore into an IpCore, for tests: every
 * verdict-request the IP core emits is answered at once, and the outputs of
 * continuing the packet are merged in. In the stack the requests travel to the
 * PF server instead (in every placement).
 */
import type { PfCore } from '../../src/pf/pf-core.js';
import type { IpCore } from '../../src/ip/ip-core.js';
import type { IpOutput, TransportSend } from '../../src/ip/ip-types.js';

/** Answer every verdict-request in `outputs` (recursively); returns the outputs without them. */
export function resolveVerdicts(ip: IpCore, pf: PfCore, outputs: IpOutput[], now: number): IpOutput[] {
  const result: IpOutput[] = [];
  const work = outputs.slice();
  for (let i = 0; i < work.length; i++) {
    const o = work[i]!;
    if (o.type !== 'verdict-request') {
      result.push(o);
      continue;
    }
    const verdict = pf.check(o, now);
    for (const x of ip.onVerdict(o.id, verdict, now)) work.push(x);
  }
  return result;
}

export class SyncFilteredIp {
  constructor(readonly ip: IpCore, readonly pf: PfCore) {}

  onFrame(ifIndex: number, frame: Uint8Array, now: number): IpOutput[] {
    return resolveVerdicts(this.ip, this.pf, this.ip.onFrame(ifIndex, frame, now), now);
  }

  send(d: TransportSend, now: number): IpOutput[] {
    return resolveVerdicts(this.ip, this.pf, this.ip.send(d, now), now);
  }

  sendIcmpError(datagram: Uint8Array, kind: 'dest-unreachable' | 'parameter-problem', code: number, now: number): IpOutput[] {
    return resolveVerdicts(this.ip, this.pf, this.ip.sendIcmpError(datagram, kind, code, now), now);
  }

  onTimer(now: number): IpOutput[] {
    this.pf.onTimer(now);
    return resolveVerdicts(this.ip, this.pf, this.ip.onTimer(now), now);
  }

  announce(now: number): IpOutput[] {
    return resolveVerdicts(this.ip, this.pf, this.ip.announce(now), now);
  }

  pollAt(): number {
    return Math.min(this.ip.pollAt(), this.pf.pollAt());
  }
}
