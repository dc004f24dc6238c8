/** The OS side of a server thread: its Linux thread id, and its priority when it dies. */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * A dying thread's last courtesy once its warm standby took over: the lowest CPU priority for
 * what it still does (unwinding, the isolate's teardown, several ms of CPU), so that on a
 * machine with few cores its successor and the threads carrying traffic run first. Not for a
 * thread without a standby: a successor that waits for its exit (restartAfterExit) would wait
 * longer. Linux takes a thread id here.
 */
export function yieldTheCpu(tid: number): void {
  if (tid <= 0) return;
  try { setPriority(tid, 19); } catch { /* not allowed or not Linux: it just dies at its priority */ }
}

/** The calling thread's OS thread id from /proc/thread-self ("PID/task/TID"); 0 where there is none. */
export function osThreadId(): number {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : 0;
  } catch {
    return 0;
  }
}
