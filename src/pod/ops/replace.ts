// Replacing replicas with replicas of another spec, never with fewer accepting listeners than the
// pod had: start a batch of new ones, wait until they listen and stay up for the stability window,
// then stop as many old ones gracefully (SIGTERM: the server closes its listener, the kernel moves
// queued connections to the others since tcp_migrate_req=1, in-flight requests finish). Shared by
// rollout (a new spec), repair and scale (replicas an interrupted rollout left on the old spec).
import type { PodContext } from '../context.ts';
import { modeOf } from '../modes/index.ts';
import { ExitCode, PodError, throwIfAborted } from '../../errors.ts';
import { monitorReplicas } from './monitor.ts';
import { LABEL, replicaName, specHash, type StoredSpec } from '../model/names.ts';
import type { ObservedPod, ObservedReplica } from '../state/observe.ts';
import { planScale } from '../model/plan.ts';
import { countListeners } from '../state/readiness.ts';
import { startReplicas, stopAndRemove, waitReady } from './replicas.ts';
import { Undo } from './undo.ts';

export interface ReplaceOptions {
  maxSurge: number;
  waitTimeoutMs: number;
  /** How long each new batch must stay up after it listens before old replicas are stopped. */
  monitorMs: number;
}

export interface Replaced {
  old: string;
  new: string;
}

/** A replacement that stopped part-way: the batches before it were replaced and stay so. */
export class ReplaceError extends PodError {
  readonly replaced: Replaced[];

  constructor(cause: unknown, replaced: Replaced[]) {
    super(cause instanceof Error ? cause.message : String(cause), cause instanceof PodError ? cause.exitCode : ExitCode.failure, { cause });
    this.replaced = replaced;
  }
}

/** The replicas that do not run `spec` (an older or newer image or environment). */
export function replicasNotOn(pod: ObservedPod, spec: StoredSpec): ObservedReplica[] {
  const hash = specHash(spec);
  return pod.replicas.filter((r) => r.container.labels[LABEL.specHash] !== hash);
}

export async function replaceReplicas(
  ctx: PodContext,
  pod: ObservedPod,
  sandboxId: string,
  target: StoredSpec,
  outgoing: ObservedReplica[],
  options: ReplaceOptions,
): Promise<Replaced[]> {
  const { name } = pod;
  const [port] = target.ports;
  const taken = pod.replicas.map((r) => r.n);
  const replaced: Replaced[] = [];
  let remaining = [...outgoing].sort((a, b) => b.n - a.n); // highest numbers go first, as in scale-down
  while (remaining.length > 0) {
    const batch = remaining.slice(0, options.maxSurge);
    const undo = new Undo(ctx.runtime, { drainS: target.stopTimeout });
    try {
      throwIfAborted(ctx.signal);
      remaining = remaining.slice(batch.length);
      const numbers = planScale(taken, taken.length + batch.length).add;
      const before = port ? ((await countListeners(ctx.runtime, sandboxId, port.containerPort)) ?? 0) : 0;
      ctx.progress(`Starting ${numbers.map((n) => replicaName(name, n)).join(', ')} (${target.image}) to replace ${batch.map((r) => r.container.name).join(', ')} ...`);
      const fresh = await startReplicas(ctx, name, target, sandboxId, numbers, undo);
      await waitReady(ctx, target, sandboxId, before + fresh.length, fresh, options.waitTimeoutMs);
      await monitorReplicas(ctx, fresh, options.monitorMs);
      // DNAT pods: one atomic rewrite puts the new replicas in and the batch out, before it stops.
      await modeOf(target).balance(ctx, name, sandboxId, target, batch.map((r) => r.container.id));
      taken.push(...numbers);
      batch.forEach((r, i) => replaced.push({ old: r.container.name, new: fresh[i]?.name ?? '' }));
    } catch (err) {
      await undo.run();
      throw new ReplaceError(err, replaced);
    }
    ctx.progress(`Stopping ${batch.map((r) => r.container.name).join(', ')} (up to ${target.stopTimeout} s to drain) ...`);
    await stopAndRemove(ctx, batch.map((r) => r.container.id), target.stopTimeout);
    for (const r of batch) taken.splice(taken.indexOf(r.n), 1);
  }
  return replaced;
}
