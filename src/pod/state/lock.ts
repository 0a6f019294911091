// One writer per pod at a time. Docker refuses a second container with the same name, which makes
// creating `<pod>-lock` an atomic test-and-set: two `scale`s, a `rollout` and the supervisor then
// take turns instead of undoing each other's work. A lock whose holder died is broken.
import { hostname } from 'node:os';
import { heldHere, lockIsStale } from './lock-stale.ts';
import { setTimeout as delay } from 'node:timers/promises';
import { statusOf } from '../../runtime/docker-errors.ts';
import type { ContainerSummary } from '../../runtime/runtime.ts';
import { nameConflict } from './conflict.ts';
import type { PodContext } from '../context.ts';
import { ExitCode, PodError, throwIfAborted } from '../../errors.ts';
import { LABEL, lockName } from '../model/names.ts';

export interface LockOptions {
  /** Any local image (the sandbox's): the lock is a never-started container. */
  image: string;
  waitMs?: number;
}

async function currentLock(ctx: PodContext, pod: string): Promise<ContainerSummary | undefined> {
  const list = await ctx.runtime.listContainers({ [LABEL.pod]: pod, [LABEL.role]: 'lock' });
  return list[0];
}

async function acquire(ctx: PodContext, pod: string, options: LockOptions): Promise<string> {
  const deadline = Date.now() + (options.waitMs ?? 120_000);
  let told = false;
  let pause = 50;
  for (;;) {
    try {
      return await ctx.runtime.createMarker({
        name: lockName(pod),
        image: options.image,
        labels: { [LABEL.pod]: pod, [LABEL.role]: 'lock', [LABEL.holder]: `${hostname()}:${process.pid}`, [LABEL.since]: new Date().toISOString() },
      });
    } catch (err) {
      if (statusOf((err as { cause?: unknown }).cause) !== 409) throw err;
    }
    const held = await currentLock(ctx, pod);
    if (held && lockIsStale(held)) {
      ctx.warn(`breaking a stale lock on pod "${pod}" (held by ${held.labels[LABEL.holder] ?? 'unknown'} since ${held.labels[LABEL.since] ?? '?'})`);
      await ctx.runtime.removeContainer(held.id);
      continue;
    }
    if (!held) {
      // Either the holder released it between our attempt and the look (try again at once), or the
      // name is taken by a container without our labels: not ours to remove.
      const named = await ctx.runtime.containerStatus(lockName(pod)).catch(() => undefined);
      if (!named || (named.labels[LABEL.role] === 'lock' && named.labels[LABEL.pod] === pod)) continue;
      throw await nameConflict(ctx.runtime, lockName(pod));
    }
    if (Date.now() > deadline) {
      throw new PodError(
        `pod "${pod}" is busy: another reuseport-pod (${held.labels[LABEL.holder] ?? '?'}) has held its lock since ${held.labels[LABEL.since] ?? '?'}; ` +
          `wait for it, or if nothing runs, \`docker rm ${lockName(pod)}\``,
        ExitCode.conflict,
      );
    }
    if (!told) {
      ctx.progress(`Waiting for another reuseport-pod working on "${pod}" (${held.labels[LABEL.holder] ?? '?'}) ...`);
      told = true;
    }
    throwIfAborted(ctx.signal);
    await delay(pause);
    pause = Math.min(pause * 2, 500);
  }
}

export async function withPodLock<T>(ctx: PodContext, pod: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  const id = await acquire(ctx, pod, options);
  heldHere.add(pod);
  try {
    return await fn();
  } finally {
    heldHere.delete(pod);
    await ctx.runtime.removeContainer(id);
  }
}
