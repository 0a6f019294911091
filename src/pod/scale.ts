// scale: converge the replica count on what is asked. New replicas take the lowest free numbers
// and must listen before scale returns; removed ones (highest first) get SIGTERM and time to drain.
import type { PodContext } from './context.ts';
import { ExitCode, PodError } from './errors.ts';
import { requirePod } from './observe.ts';
import { planScale } from './plan.ts';
import { startReplicas, stopAndRemove, waitReady } from './replicas.ts';
import { replicaName } from './names.ts';
import { Undo } from './undo.ts';

export interface ScaleResult {
  name: string;
  from: number;
  to: number;
  added: string[];
  removed: string[];
  seconds: number;
}

export async function scalePod(ctx: PodContext, name: string, replicas: number, options: { waitTimeoutMs: number }): Promise<ScaleResult> {
  const started = Date.now();
  const pod = await requirePod(ctx.runtime, name);
  const { sandbox, spec } = pod;
  if (!sandbox || !spec) {
    throw new PodError(`pod "${name}" has no sandbox (or its labels are damaged); remove it with \`reuseport-pod rm ${name}\` and create it again`, ExitCode.failure);
  }
  if (sandbox.state !== 'running') {
    throw new PodError(`the sandbox of pod "${name}" is ${sandbox.state}; start it with \`docker start ${sandbox.name}\` first`, ExitCode.failure);
  }
  const plan = planScale(pod.replicas.map((r) => r.n), replicas);
  const result: ScaleResult = { name, from: pod.replicas.length, to: replicas, added: [], removed: [], seconds: 0 };

  if (plan.add.length > 0) {
    ctx.progress(`Adding ${plan.add.map((n) => replicaName(name, n)).join(', ')} ...`);
    const undo = new Undo(ctx.runtime);
    try {
      const added = await startReplicas(ctx, name, spec, sandbox.id, plan.add, undo);
      const running = pod.replicas.filter((r) => r.container.state === 'running').length;
      await waitReady(ctx, spec, sandbox.id, running + added.length, added, options.waitTimeoutMs);
      result.added = added.map((r) => r.name);
    } catch (err) {
      ctx.progress('Failed; removing the replicas this scale added ...');
      await undo.run();
      throw err;
    }
  }
  if (plan.remove.length > 0) {
    const going = plan.remove.flatMap((n) => pod.replicas.filter((r) => r.n === n));
    ctx.progress(`Stopping ${going.map((r) => r.container.name).join(', ')} (up to ${spec.stopTimeout} s to drain) ...`);
    await stopAndRemove(ctx, going.map((r) => r.container.id), spec.stopTimeout);
    result.removed = going.map((r) => r.container.name);
  }
  result.seconds = (Date.now() - started) / 1000;
  return result;
}
