/** RFC 9293 §3.3.2 connection states, numbered (they are stored in control blocks as numbers). */
export const TcpState = {
  Closed: 0,
  Listen: 1,
  SynSent: 2,
  SynReceived: 3,
  Established: 4,
  FinWait1: 5,
  FinWait2: 6,
  CloseWait: 7,
  Closing: 8,
  LastAck: 9,
  TimeWait: 10,
} as const;
export type TcpState = (typeof TcpState)[keyof typeof TcpState];

const NAMES = [
  'CLOSED', 'LISTEN', 'SYN-SENT', 'SYN-RECEIVED', 'ESTABLISHED', 'FIN-WAIT-1', 'FIN-WAIT-2',
  'CLOSE-WAIT', 'CLOSING', 'LAST-ACK', 'TIME-WAIT',
] as const;

export function stateName(s: TcpState): string {
  return NAMES[s]!;
}

/** States in which we have sent our FIN (or will as soon as data drains). */
export function finQueuedState(s: TcpState): boolean {
  return s === TcpState.FinWait1 || s === TcpState.FinWait2 || s === TcpState.Closing
    || s === TcpState.LastAck || s === TcpState.TimeWait;
}

/** States in which the peer's FIN has been received. */
export function peerFinState(s: TcpState): boolean {
  return s === TcpState.CloseWait || s === TcpState.Closing || s === TcpState.LastAck || s === TcpState.TimeWait;
}
