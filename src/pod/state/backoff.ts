// How long supervise waits before replacing a pod's unhealthy replica again. A check that fails
// because of something outside the replica (a database down, a bad config in the spec) fails in
// every replacement too: replacing in a tight loop would churn containers and hold the pod's lock
// without helping. So the first replacement is at once, and each further one waits twice as long
// as the one before, from the health check's interval up to a cap. The streak is per pod, not per
// replica: a replacement has another name, and it is the pod that keeps failing.
export interface BackoffOptions {
  /** The wait after the first replacement (the check's interval: less could not show a change). */
  baseMs: number;
  capMs: number;
}

interface Streak {
  /** Replacements so far in this streak. */
  count: number;
  lastAt: number;
}

export class ReplaceBackoff {
  private readonly streaks = new Map<string, Streak>();

  /** ms until `key` may be replaced again (0: now). */
  waitFor(key: string, options: BackoffOptions, now = Date.now()): number {
    const streak = this.streaks.get(key);
    if (!streak) return 0;
    return Math.max(0, streak.lastAt + delayAfter(streak.count, options) - now);
  }

  /** A replacement was made: the next one waits longer. */
  replaced(key: string, now = Date.now()): void {
    const streak = this.streaks.get(key);
    this.streaks.set(key, { count: (streak?.count ?? 0) + 1, lastAt: now });
  }

  /**
   * The pod was seen with no unhealthy replica: the streak ends once that has lasted as long as the
   * cap (a replacement healthy for a moment and then failing again is the same streak).
   */
  healthy(key: string, options: BackoffOptions, now = Date.now()): void {
    const streak = this.streaks.get(key);
    if (streak && now - streak.lastAt >= options.capMs) this.streaks.delete(key);
  }
}

/** The wait after the `count`-th replacement: base, 2 base, 4 base, ... up to the cap. */
export function delayAfter(count: number, options: BackoffOptions): number {
  if (count <= 0) return 0;
  return Math.min(options.capMs, options.baseMs * 2 ** Math.min(count - 1, 30));
}
