// supervise: a foreground process (for systemd, or a container with the engine's socket mounted)
// that keeps pods serving. It reacts to the engine's events for our containers (a sandbox that
// restarted, a replica that died or was removed) and, as a safety net for events it cannot see
// (the engine itself restarting), checks every pod on a timer. Repairs take the pod's lock, so
// they wait for a scale or rollout in progress instead of fighting it. A replica whose health
// check says unhealthy is replaced (the new one healthy first), with a back-off per pod
// (state/backoff.ts) so that a check failing for reasons no replacement fixes does not churn.
import { modeOf } from '../modes/index.ts';
import { setTimeout as delay } from 'node:timers/promises';
import type { PodContext } from '../context.ts';
import { PodError } from '../../errors.ts';

import { assessPod, beyondRepair, describeTrouble, needsRepair, unhealthyReplicas, type AssessedReplica } from '../state/health.ts';
import { ReplaceBackoff, type BackoffOptions } from '../state/backoff.ts';
import type { StoredSpec } from '../model/names.ts';
import { lockIsStale } from '../state/lock-stale.ts';
import { LABEL } from '../model/names.ts';
import { lockOf, observeAllPods, observePod } from '../state/observe.ts';
import { repairPod } from './repair.ts';

const SETTLE_MS = 300;
// A dockerd that is shutting down sends its containers' die events about a second before the
// event stream ends: repairs started then fail half-way. Deaths wait longer before a look, and no
// pass runs while the stream is down (the reconnect checks everything), unless events stay
// unavailable for long, as with an engine that has none.
const DIE_SETTLE_MS = 2_000;
const EVENTLESS_AFTER_MS = 10_000;
// Docker's default --health-interval (the image's own check may differ; the spec's is known).
const DEFAULT_HEALTH_INTERVAL_MS = 30_000;
const BACKOFF_CAP_MS = 5 * 60_000;

function backoffOf(spec: StoredSpec | undefined): BackoffOptions {
  return { baseMs: spec?.options?.health?.intervalMs ?? DEFAULT_HEALTH_INTERVAL_MS, capMs: BACKOFF_CAP_MS };
}

const seconds = (ms: number): string => `${ms < 10_000 ? (ms / 1000).toFixed(1) : Math.ceil(ms / 1000)} s`;

export interface SuperviseOptions {
  /** Pods to watch; empty = every pod. */
  pods: string[];
  /** Full check period. */
  intervalMs: number;
  waitTimeoutMs: number;
  log: (line: string) => void;
  signal: AbortSignal;
}

export async function supervise(ctx: PodContext, options: SuperviseOptions): Promise<void> {
  const watched = (pod: string): boolean => options.pods.length === 0 || options.pods.includes(pod);
  const pending = new Set<string>();
  // Pods an engine event named: a DNAT pod's sandbox that restarted looks healthy but lost its rules
  // (a fresh namespace), which only reading them tells; repair reads them, so it is asked each time.
  const evented = new Set<string>();
  let running: Promise<void> = Promise.resolve();
  let streamDownSince: number | undefined = Date.now();
  const engineSettled = (): boolean => streamDownSince === undefined || Date.now() - streamDownSince > EVENTLESS_AFTER_MS;

  // What the supervisor last said it cannot fix, per pod: said once when it changes, not on every
  // event of a crash loop (the engine's restart policy is at it; starting the replica fights it).
  const troubles = new Map<string, string>();
  const sayTroubles = (name: string, seen: AssessedReplica[]): void => {
    // Keyed without the counts, which change with every crash.
    const key = seen.map((r) => `${r.status.name}:${r.health}`).join(',');
    if ((troubles.get(name) ?? '') === key) return;
    if (key) options.log(`${name}: ${seen.map(describeTrouble).join('; ')}; leaving it to the engine's restart policy`);
    else options.log(`${name}: no replica is restarting any more`);
    if (key) troubles.set(name, key);
    else troubles.delete(name);
  };

  const backoff = new ReplaceBackoff();
  // What was last said about a back-off per pod, so that each pass does not repeat it, and the pods
  // with a look planned for when their back-off ends.
  const waiting = new Map<string, string>();
  const recheckPlanned = new Set<string>();

  const check = async (name: string, byEvent: boolean): Promise<void> => {
    const pod = await observePod(ctx.runtime, name);
    if (!pod) return;
    // A command at work on the pod (a live lock) converges it itself; a later event or pass looks again.
    const lock = lockOf(pod);
    if (lock && !lockIsStale(lock)) return;
    if (lock) {
      // Its holder is gone, or it is this process's own, created or kept when the engine went away
      // mid-call: left there, it would make ls say a command is at work, and the next one wait.
      // By id: a lock taken again since then is another container, and stays.
      await ctx.runtime.removeContainer(lock.id).then(
        () => options.log(`${name}: removed a stale lock (held by ${lock.labels[LABEL.holder] ?? 'unknown'} since ${lock.labels[LABEL.since] ?? '?'})`),
        () => undefined,
      );
    }
    const mode = modeOf(pod.spec);
    const a = await assessPod(ctx, pod, mode);
    sayTroubles(name, beyondRepair(a));
    const sick = unhealthyReplicas(a);
    const timing = backoffOf(pod.spec);
    if (sick.length === 0) {
      backoff.healthy(name, timing);
      waiting.delete(name);
    }
    const waitMs = sick.length > 0 ? backoff.waitFor(name, timing) : 0;
    if (waitMs > 0) {
      const said = sick.map((r) => r.status.name).join(', ');
      if (waiting.get(name) !== said) options.log(`${name}: ${said} unhealthy; replacing again in ${seconds(waitMs)} (back-off)`);
      waiting.set(name, said);
      // Looked at again when the back-off ends, not only at the next timer pass.
      if (!recheckPlanned.has(name)) {
        recheckPlanned.add(name);
        void delay(waitMs + SETTLE_MS, undefined, { signal: options.signal }).then(
          () => (recheckPlanned.delete(name), schedule([name])),
          () => undefined,
        );
      }
    }
    const replaceUnhealthy = waitMs === 0;
    if (!pod.recorded || (!needsRepair(pod, a, { replaceUnhealthy }) && !(byEvent && mode.recheckOnEvents))) return;
    const tried = replaceUnhealthy && sick.length > 0;
    const later = (): string => `the next replacement of an unhealthy replica waits ${seconds(backoff.waitFor(name, timing))} at least (back-off)`;
    const result = await repairPod(ctx, name, { waitTimeoutMs: options.waitTimeoutMs, lockWaitMs: 5_000, replaceUnhealthy }).catch((err: unknown) => {
      if (!tried) throw err;
      // A replacement that failed (its check failed too) is a try all the same: the next one waits.
      backoff.replaced(name);
      options.log(`${name}: replacing ${sick.map((r) => r.status.name).join(', ')} (unhealthy) failed: ${err instanceof Error ? err.message : String(err)}\n  ${later()}`);
      return undefined;
    });
    // Counted from its end: a replacement takes as long as its new replica needs to get healthy.
    if (result && tried) backoff.replaced(name);
    if (!result) return;
    const next = result.replacedUnhealthy.length > 0 ? `; ${later()}` : '';
    if (result.actions.length > 0) options.log(`${name}: ${result.actions.join('; ')} (${result.seconds.toFixed(1)} s)${next}`);
  };

  // One pass at a time: events arriving meanwhile are gathered and checked in the next pass.
  const schedule = (names: string[], settleMs = SETTLE_MS, byEvent = false): void => {
    for (const n of names) pending.add(n);
    if (byEvent) for (const n of names) evented.add(n);
    running = running.then(async () => {
      // A restart shows up as die then start: let it settle before looking.
      await delay(settleMs, undefined, { signal: options.signal }).catch(() => undefined);
      if (options.signal.aborted || !engineSettled()) return;
      const batch = [...pending];
      const byEvent = new Set(evented);
      pending.clear();
      evented.clear();
      for (const name of batch) {
        if (options.signal.aborted) return;
        await check(name, byEvent.has(name)).catch((err: unknown) => options.log(`${name}: repair failed: ${err instanceof PodError ? err.message : String(err)}`));
      }
    });
  };

  const checkAll = async (): Promise<void> => {
    const pods = await observeAllPods(ctx.runtime);
    schedule(pods.map((p) => p.name).filter(watched));
  };

  const timer = (async () => {
    while (!options.signal.aborted) {
      await checkAll().catch((err: unknown) => options.log(`check failed: ${err instanceof Error ? err.message : String(err)}`));
      await delay(options.intervalMs, undefined, { signal: options.signal }).catch(() => undefined);
    }
  })();

  const events = (async () => {
    while (!options.signal.aborted) {
      try {
        const stream = await ctx.runtime.events({ [LABEL.pod]: '' });
        streamDownSince = undefined;
        options.log('watching engine events');
        // Whatever broke while we were not watching (at start, or while the engine was down).
        checkAll().catch(() => undefined);
        for await (const e of stream) {
          if (options.signal.aborted) break;
          const pod = e.labels[LABEL.pod];
          // Our own lock and state records come and go with every operation: nothing to repair there.
          const role = e.labels[LABEL.role];
          if (pod && watched(pod) && (role === 'sandbox' || role === 'replica') && ['start', 'die', 'destroy', 'restart', 'kill', 'oom', 'health_status'].includes(e.action)) {
            schedule([pod], e.action === 'die' || e.action === 'kill' ? DIE_SETTLE_MS : SETTLE_MS, true);
          }
        }
        streamDownSince ??= Date.now();
        if (!options.signal.aborted) options.log('engine event stream ended; reconnecting');
      } catch (err) {
        streamDownSince ??= Date.now();
        if (!options.signal.aborted) options.log(`engine events unavailable (${err instanceof Error ? err.message : String(err)}); retrying`);
      }
      await delay(1_000, undefined, { signal: options.signal }).catch(() => undefined);
    }
  })();

  await new Promise<void>((resolve) => options.signal.addEventListener('abort', () => resolve(), { once: true }));
  // A repair in progress finishes (and releases the pod's lock) before we go.
  await Promise.race([Promise.allSettled([timer, running]), delay(options.waitTimeoutMs)]);
  void events;
}
