// scale: converge the replica count on what is asked. New replicas take the lowest free numbers
// and must listen before scale returns; removed ones (highest first) get SIGTERM and time to drain,
// and with tcp_migrate_req=1 on the sandbox the connections queued at a closing listener move to
// the others. The count asked for is recorded first, so that the supervisor works toward it too.
import type { PodContext } from './context.ts';
import { publishBackends } from './dnat.ts';
import { ExitCode, PodError, throwIfAborted } from './errors.ts';
import { withPodLock } from './lock.ts';
import { replicaName } from './names.ts';
import { markerImage, requirePod, type ObservedPod } from './observe.ts';
import { planScale } from './plan.ts';
import { startReplicas, stopAndRemove, waitReady } from './replicas.ts';
import { writeState } from './state.ts';
import { Undo } from './undo.ts';

export interface ScaleResult {
  name: string;
  from: number;
  to: number;
  added: string[];
  removed: string[];
  seconds: number;
}

export function requireServing(pod: ObservedPod): Required<Pick<ObservedPod, 'sandbox' | 'spec'>> {
  const { sandbox, spec } = pod;
  if (!spec) {
    throw new PodError(`pod "${pod.name}" has no recorded spec (its labels are damaged); remove it with \`reuseport-pod rm ${pod.name}\` and create it again`, ExitCode.failure);
  }
  if (!sandbox) {
    // The spec survives in the state record, and that is all repair needs to re-create the sandbox.
    throw new PodError(`pod "${pod.name}" has no sandbox; run \`reuseport-pod repair ${pod.name}\` (it re-creates the sandbox and the replicas that were in it)`, ExitCode.failure);
  }
  if (sandbox.state !== 'running') {
    throw new PodError(`the sandbox of pod "${pod.name}" is ${sandbox.state}; run \`reuseport-pod repair ${pod.name}\``, ExitCode.failure);
  }
  return { sandbox, spec };
}

export async function scalePod(ctx: PodContext, name: string, replicas: number, options: { waitTimeoutMs: number }): Promise<ScaleResult> {
  const started = Date.now();
  const seen = await requirePod(ctx.runtime, name);
  return withPodLock(ctx, name, { image: markerImage(seen) }, async () => {
    const pod = await requirePod(ctx.runtime, name);
    const { sandbox, spec } = requireServing(pod);
    const plan = planScale(pod.replicas.map((r) => r.n), replicas);
    const result: ScaleResult = { name, from: pod.replicas.length, to: replicas, added: [], removed: [], seconds: 0 };
    if (pod.desired !== replicas) await writeState(ctx, pod, markerImage(pod), { spec, replicas });

    if (plan.add.length > 0) {
      ctx.progress(`Adding ${plan.add.map((n) => replicaName(name, n)).join(', ')} ...`);
      const undo = new Undo(ctx.runtime);
      try {
        const added = await startReplicas(ctx, name, spec, sandbox.id, plan.add, undo);
        throwIfAborted(ctx.signal);
        const running = pod.replicas.filter((r) => r.container.state === 'running').length;
        await waitReady(ctx, spec, sandbox.id, running + added.length, added, options.waitTimeoutMs);
        // DNAT pods: new connections reach a replica only from here on, once it accepts.
        await publishBackends(ctx, name, sandbox.id, spec);
        result.added = added.map((r) => r.name);
      } catch (err) {
        ctx.progress('Failed; removing the replicas this scale added ...');
        await undo.run();
        const now = await requirePod(ctx.runtime, name);
        if (now.desired !== pod.desired) await writeState(ctx, now, markerImage(now), { spec, replicas: pod.desired });
        throw err;
      }
    }
    if (plan.remove.length > 0) {
      const going = plan.remove.flatMap((n) => pod.replicas.filter((r) => r.n === n));
      // DNAT pods: out of the rules first, so no new connection reaches a stopping replica.
      await publishBackends(ctx, name, sandbox.id, spec, going.map((r) => r.container.id));
      ctx.progress(`Stopping ${going.map((r) => r.container.name).join(', ')} (up to ${spec.stopTimeout} s to drain) ...`);
      await stopAndRemove(ctx, going.map((r) => r.container.id), spec.stopTimeout);
      result.removed = going.map((r) => r.container.name);
    }
    result.seconds = (Date.now() - started) / 1000;
    return result;
  });
}
