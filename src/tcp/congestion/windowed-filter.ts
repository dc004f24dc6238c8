/**
 * Windowed maximum: the largest value seen within the last `window` units of
 * time (here: BBR's round trips), kept with Kathleen Nichols' three-sample
 * algorithm as Linux's lib/win_minmax.c does (the best, second-best and
 * third-best samples of successive sub-windows), so that memory is constant
 * and an old maximum expires without keeping every sample.
 * Used for BBR.BtlBw (draft-cardwell-iccrg-bbr-congestion-control-00 §4.1.1.2).
 */
export class WindowedMax {
  private readonly v = [0, 0, 0];
  private readonly t = [0, 0, 0];
  private empty = true;

  constructor(private readonly window: number) {
    if (!(window > 0)) throw new RangeError('WindowedMax: window must be > 0');
  }

  get best(): number {
    return this.empty ? 0 : this.v[0]!;
  }

  reset(value: number, time: number): void {
    this.v.fill(value);
    this.t.fill(time);
    this.empty = false;
  }

  /** Add a sample taken at `time` (non-decreasing). Returns the current maximum. */
  update(value: number, time: number): number {
    const v = this.v;
    const t = this.t;
    if (this.empty || value >= v[0]! || time - t[2]! > this.window) {
      this.reset(value, time);
      return value;
    }
    if (value >= v[1]!) {
      v[1] = v[2] = value;
      t[1] = t[2] = time;
    } else if (value >= v[2]!) {
      v[2] = value;
      t[2] = time;
    }
    // Expire the best when it is older than the window; promote the next ones.
    const dt = time - t[0]!;
    if (dt > this.window) {
      v[0] = v[1]!; t[0] = t[1]!;
      v[1] = v[2]!; t[1] = t[2]!;
      v[2] = value; t[2] = time;
      if (time - t[0]! > this.window) {
        v[0] = v[1]!; t[0] = t[1]!;
        v[1] = v[2]!; t[1] = t[2]!;
        v[2] = value; t[2] = time;
      }
    } else if (t[1] === t[0] && dt > this.window / 4) {
      // A quarter of the window passed without a better second sample: start a new one.
      v[1] = v[2] = value;
      t[1] = t[2] = time;
    } else if (t[2] === t[1] && dt > this.window / 2) {
      v[2] = value;
      t[2] = time;
    }
    return v[0]!;
  }
}
