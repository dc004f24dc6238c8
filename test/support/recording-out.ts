/** A server's output channel for single-thread rigs: it records every committed message and is full only while `full` is set. */
import type { OutChannel } from '../../src/substrate/channel.js';
import { MessageView, MSG_WORDS } from '../../src/substrate/message.js';

export class RecordingOut implements OutChannel {
  readonly messages: MessageView[] = [];
  private staged: MessageView | null = null;
  /** A peer that does not read: reserve() fails. */
  full = false;
  constructor(readonly name: string, readonly peer: string) {}
  reserve(): MessageView | null {
    if (this.full) return null;
    this.staged = new MessageView(new Int32Array(MSG_WORDS));
    return this.staged;
  }
  commit(): void {
    if (this.staged === null) throw new Error('commit without reserve');
    this.messages.push(this.staged);
    this.staged = null;
  }
  freeSlots(): number { return this.full ? 0 : Infinity; }
  get pending(): number { return 0; }
  /** The messages committed since the last take, oldest first. */
  take(): MessageView[] { return this.messages.splice(0); }
}
