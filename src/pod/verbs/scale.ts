// scale: converge the replica count on what is asked. New replicas take the lowest free numbers
// and must listen (and stay up for the --monitor window) before scale returns; removed ones get
// SIGTERM and time to drain, and with tcp_migrate_req=1 on the sandbox the connections queued at a
// closing listener move to the others. Replicas an interrupted rollout left on another spec than
// the recorded one go first when scaling down, and the rest are replaced, so that scale never ends
// with the pod running two specs. The count asked for is recorded first, so that the supervisor
// works toward it too.
import type { PodContext } from '../context.ts';
import { modeOf } from '../modes/index.ts';
import { throwIfAborted } from '../../errors.ts';
import { withPodLock } from '../state/lock.ts';
import { replicaName } from '../model/names.ts';
import { requireServing } from '../ops/serving.ts';
import { markerImage, requirePod, type ObservedPod } from '../state/observe.ts';
import { planScale } from '../model/plan.ts';
import { monitorReplicas } from '../ops/monitor.ts';
import { replaceReplicas, replicasNotOn } from '../ops/replace.ts';
import { startReplicas, stopAndRemove, waitReady } from '../ops/replicas.ts';
import { writeState } from '../state/records.ts';
import { Undo } from '../ops/undo.ts';

export interface ScaleResult {
  name: string;
  from: number;
  to: number;
  added: string[];
  removed: string[];
  /** Replicas of another spec than the recorded one (an interrupted rollout's), replaced by this scale. */
  replaced: Array<{ old: string; new: string }>;
  seconds: number;
}

/** Which replica numbers go when scaling down: other-spec ones first, then the highest numbers. */
export function surplus(pod: ObservedPod, replicas: number, outdated: ReadonlySet<number>): number[] {
  const order = [...pod.replicas].sort((a, b) => Number(outdated.has(b.n)) - Number(outdated.has(a.n)) || b.n - a.n);
  return order.slice(0, Math.max(0, pod.replicas.length - replicas)).map((r) => r.n);
}

export async function scalePod(ctx: PodContext, name: string, replicas: number, options: { waitTimeoutMs: number; monitorMs?: number }): Promise<ScaleResult> {
  const started = Date.now();
  const seen = await requirePod(ctx.runtime, name);
  return withPodLock(ctx, name, { image: markerImage(seen) }, async () => {
    const pod = await requirePod(ctx.runtime, name);
    const { sandbox, spec } = requireServing(pod);
    const outdated = new Set(replicasNotOn(pod, spec).map((r) => r.n));
    const add = planScale(pod.replicas.map((r) => r.n), replicas).add;
    const remove = surplus(pod, replicas, outdated);
    const result: ScaleResult = { name, from: pod.replicas.length, to: replicas, added: [], removed: [], replaced: [], seconds: 0 };
    if (pod.desired !== replicas) await writeState(ctx, pod, markerImage(pod), { spec, replicas });

    if (add.length > 0) {
      ctx.progress(`Adding ${add.map((n) => replicaName(name, n)).join(', ')} ...`);
      const undo = new Undo(ctx.runtime, { drainS: spec.stopTimeout });
      try {
        const added = await startReplicas(ctx, name, spec, sandbox.id, add, undo);
        throwIfAborted(ctx.signal);
        const running = pod.replicas.filter((r) => r.container.state === 'running').length;
        await waitReady(ctx, spec, sandbox.id, running + added.length, added, options.waitTimeoutMs);
        await monitorReplicas(ctx, added, options.monitorMs ?? 0);
        // DNAT pods: new connections reach a replica only from here on, once it accepts.
        await modeOf(spec).balance(ctx, name, sandbox.id, spec);
        result.added = added.map((r) => r.name);
      } catch (err) {
        ctx.progress('Failed; removing the replicas this scale added ...');
        await undo.run();
        const now = await requirePod(ctx.runtime, name);
        if (now.desired !== pod.desired) await writeState(ctx, now, markerImage(now), { spec, replicas: pod.desired });
        throw err;
      }
    }
    if (remove.length > 0) {
      const going = remove.flatMap((n) => pod.replicas.filter((r) => r.n === n));
      // DNAT pods: out of the rules first, so no new connection reaches a stopping replica.
      await modeOf(spec).balance(ctx, name, sandbox.id, spec, going.map((r) => r.container.id));
      ctx.progress(`Stopping ${going.map((r) => r.container.name).join(', ')} (up to ${spec.stopTimeout} s to drain) ...`);
      await stopAndRemove(ctx, going.map((r) => r.container.id), spec.stopTimeout);
      result.removed = going.map((r) => r.container.name);
    }
    if (pod.replicas.some((r) => outdated.has(r.n) && !remove.includes(r.n))) {
      const now = await requirePod(ctx.runtime, name);
      const stale = replicasNotOn(now, spec);
      ctx.progress(`Finishing an interrupted rollout: ${stale.map((r) => r.container.name).join(', ')} run${stale.length === 1 ? 's' : ''} another spec than ${spec.image} ...`);
      result.replaced = await replaceReplicas(ctx, now, sandbox.id, spec, stale, { maxSurge: 1, waitTimeoutMs: options.waitTimeoutMs, monitorMs: options.monitorMs ?? 0 });
    }
    result.seconds = (Date.now() - started) / 1000;
    return result;
  });
}
