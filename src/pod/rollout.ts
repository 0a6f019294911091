// rollout: replace every replica whose image or environment differs from the target, never having
// fewer accepting listeners than the pod had: start the new replica(s), wait until they listen,
// then stop as many old ones gracefully (SIGTERM: the server closes its listener, the kernel moves
// queued connections to the others since tcp_migrate_req=1, in-flight requests finish).
// A new replica that does not come up stops the rollout; the old ones keep serving.
import type { PodContext } from './context.ts';
import { publishBackends } from './dnat.ts';
import { ExitCode, PodError, throwIfAborted } from './errors.ts';
import { ensureAppImage } from './images.ts';
import { withPodLock } from './lock.ts';
import { LABEL, specHash, type StoredSpec } from './names.ts';
import { markerImage, requirePod } from './observe.ts';
import { planScale } from './plan.ts';
import { countListeners } from './readiness.ts';
import { startReplicas, stopAndRemove, waitReady } from './replicas.ts';
import { requireServing } from './scale.ts';
import { writeState } from './state.ts';
import { Undo } from './undo.ts';

export interface RolloutOptions {
  image?: string;
  env?: Record<string, string>;
  maxSurge: number;
  waitTimeoutMs: number;
}

export interface RolloutResult {
  name: string;
  image: string;
  replaced: Array<{ old: string; new: string }>;
  seconds: number;
}

export async function rolloutPod(ctx: PodContext, name: string, options: RolloutOptions): Promise<RolloutResult> {
  const started = Date.now();
  const seen = await requirePod(ctx.runtime, name);
  if (options.image) await ensureAppImage(ctx, options.image);
  return withPodLock(ctx, name, { image: markerImage(seen) }, async () => {
    const pod = await requirePod(ctx.runtime, name);
    const { sandbox, spec: current } = requireServing(pod);
    const target: StoredSpec = { ...current, image: options.image ?? current.image, env: options.env ?? current.env };
    const targetHash = specHash(target);
    const old = pod.replicas.filter((r) => r.container.labels[LABEL.specHash] !== targetHash);
    const replaced: RolloutResult['replaced'] = [];
    if (old.length === 0) return { name, image: target.image, replaced, seconds: (Date.now() - started) / 1000 };

    const [port] = target.ports;
    const taken = pod.replicas.map((r) => r.n);
    let remaining = [...old].reverse(); // highest numbers go first, as in scale-down
    while (remaining.length > 0) {
      throwIfAborted(ctx.signal);
      const batch = remaining.slice(0, options.maxSurge);
      remaining = remaining.slice(batch.length);
      const numbers = planScale(taken, taken.length + batch.length).add;
      const before = port ? ((await countListeners(ctx.runtime, sandbox.id, port.containerPort)) ?? 0) : 0;
      ctx.progress(`Starting ${numbers.map((n) => `${name}-${n}`).join(', ')} (${target.image}) to replace ${batch.map((r) => r.container.name).join(', ')} ...`);
      const undo = new Undo(ctx.runtime);
      try {
        const fresh = await startReplicas(ctx, name, target, sandbox.id, numbers, undo);
        await waitReady(ctx, target, sandbox.id, before + fresh.length, fresh, options.waitTimeoutMs);
        // DNAT pods: one atomic rewrite puts the new replicas in and the batch out, before it stops.
        await publishBackends(ctx, name, sandbox.id, target, batch.map((r) => r.container.id));
        taken.push(...numbers);
        batch.forEach((r, i) => replaced.push({ old: r.container.name, new: fresh[i]?.name ?? '' }));
      } catch (err) {
        await undo.run();
        const done = replaced.length;
        const message = err instanceof Error ? err.message : String(err);
        throw new PodError(
          `rollout of "${name}" stopped after replacing ${done} of ${old.length} replicas; the other ${old.length - done} keep serving ${current.image}. ${message}`,
          err instanceof PodError ? err.exitCode : ExitCode.failure,
          { cause: err },
        );
      }
      ctx.progress(`Stopping ${batch.map((r) => r.container.name).join(', ')} (up to ${current.stopTimeout} s to drain) ...`);
      await stopAndRemove(ctx, batch.map((r) => r.container.id), current.stopTimeout);
      for (const r of batch) taken.splice(taken.indexOf(r.n), 1);
    }
    await writeState(ctx, await requirePod(ctx.runtime, name), markerImage(pod), { spec: target, replicas: pod.desired });
    return { name, image: target.image, replaced, seconds: (Date.now() - started) / 1000 };
  });
}
