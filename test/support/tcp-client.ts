// A one-shot TCP client over a newtos stack: connect, send `text` and end, resolve
// with everything received until the connection closes (reject on an error).
import type { Stack } from '../../src/stack/host.js';

export function sendAndCollect(stack: Stack, host: string, port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = stack.net.connect({ port, host });
    let got = '';
    c.on('error', reject);
    c.on('connect', () => c.end(text));
    c.on('data', (d: Buffer) => { got += d.toString(); });
    c.on('close', () => resolve(got));
  });
}
