/**
 * Keeps the process alive while the application waits for a reply on its input ring (a
 * connect, a listener waiting for connections): the ring's own wait (Atomics.waitAsync)
 * does not, and once the servers' threads are unref'd (Stack.unref, `newtos run`) nothing
 * else would. One ref'd timer while at least one hold is out, as libuv's handles do.
 */
export class KeepAlive {
  private holds = 0;
  private timer: NodeJS.Timeout | undefined;

  /** Takes a hold; the returned function gives it back (once; later calls do nothing). */
  hold(): () => void {
    this.holds++;
    this.timer ??= setInterval(() => { /* keep the event loop alive */ }, 1 << 30);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holds === 0 && this.timer !== undefined) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  /** Drops every hold (the client closed). */
  clear(): void {
    this.holds = 0;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
