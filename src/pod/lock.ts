// One writer per pod at a time. Docker refuses a second container with the same name, which makes
// creating `<pod>-lock` an atomic test-and-set: two `scale`s, a `rollout` and the supervisor then
// take turns instead of undoing each other's work. A lock whose holder died is broken.
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { statusOf } from '../runtime/docker-errors.ts';
import type { ContainerSummary } from '../runtime/runtime.ts';
import type { PodContext } from './context.ts';
import { ExitCode, PodError, throwIfAborted } from './errors.ts';
import { LABEL, lockName } from './names.ts';

const STALE_MS = 15 * 60 * 1000;

/** Pods whose lock this process holds right now: a lock naming this process but not here was left behind. */
const heldHere = new Set<string>();

export interface LockOptions {
  /** Any local image (the sandbox's): the lock is a never-started container. */
  image: string;
  waitMs?: number;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock is stale when its holder ran on this host and is gone, or when it is very old. */
function isStale(lock: ContainerSummary, now: number): boolean {
  const [host, pid] = (lock.labels[LABEL.holder] ?? '').split(':');
  // Left by this very process (a release the engine did not take, e.g. while it restarted).
  if (host === hostname() && Number(pid) === process.pid && !heldHere.has(lock.labels[LABEL.pod] ?? '')) return true;
  if (host === hostname() && Number(pid) > 0 && !isAlive(Number(pid))) return true;
  const since = Date.parse(lock.labels[LABEL.since] ?? '');
  return Number.isNaN(since) || now - since > STALE_MS;
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
    if (held && isStale(held, Date.now())) {
      ctx.warn(`breaking a stale lock on pod "${pod}" (held by ${held.labels[LABEL.holder] ?? 'unknown'} since ${held.labels[LABEL.since] ?? '?'})`);
      await ctx.runtime.removeContainer(held.id);
      continue;
    }
    if (!held) {
      // Either the holder released it between our attempt and the look (try again at once), or the
      // name is taken by a container without our labels: not ours to remove.
      const named = await ctx.runtime.containerStatus(lockName(pod)).catch(() => undefined);
      if (!named || (named.labels[LABEL.role] === 'lock' && named.labels[LABEL.pod] === pod)) continue;
      throw new PodError(`a container named "${lockName(pod)}" exists and was not made by reuseport-pod; remove or rename it`, ExitCode.conflict);
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
