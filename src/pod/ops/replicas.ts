// Starting and stopping replicas, shared by create, scale and rm. Independent engine calls run in
// parallel: ten replicas one after the other are ten times slower than they need to be.
import { isDnat } from '../model/spec.ts';
import type { ContainerConfig } from '../../runtime/runtime.ts';
import type { PodContext } from '../context.ts';
import { nameConflict } from '../state/conflict.ts';
import { waitAccepting } from '../modes/dnat.ts';
import { networkName, podOfReplica, replicaLabels, replicaName, type StoredSpec } from '../model/names.ts';
import { failIfExited, waitForListeners } from '../state/readiness.ts';
import { statusOf } from '../../runtime/docker-errors.ts';
import type { Undo } from './undo.ts';

export interface StartedReplica {
  n: number;
  id: string;
  name: string;
}

export function replicaConfig(pod: string, n: number, spec: StoredSpec, version: string): ContainerConfig {
  const [first] = spec.ports;
  const config: ContainerConfig = {
    name: replicaName(pod, n),
    image: spec.image,
    labels: replicaLabels(pod, n, spec, version),
    env: { ...spec.env, INSTANCE: replicaName(pod, n), PORT: String(first?.containerPort ?? 8080) },
    stopTimeout: spec.stopTimeout,
  };
  if (isDnat(spec)) config.network = networkName(pod);
  return config;
}

/** Creates and starts replicas `numbers` in the sandbox's namespace; each one made is recorded in `undo`. */
export async function startReplicas(
  ctx: PodContext,
  pod: string,
  spec: StoredSpec,
  sandboxId: string,
  numbers: number[],
  undo: Undo,
): Promise<StartedReplica[]> {
  const results = await Promise.allSettled(
    numbers.map(async (n) => {
      const config = replicaConfig(pod, n, spec, ctx.version);
      let id: string;
      try {
        id = await ctx.runtime.createContainer(sandboxId, config);
      } catch (err) {
        if (statusOf((err as { cause?: unknown }).cause) === 409) throw await nameConflict(ctx.runtime, config.name, err);
        throw err;
      }
      undo.replica(id);
      await ctx.runtime.startContainer(id);
      return { n, id, name: config.name };
    }),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<StartedReplica>).value);
}

export async function waitReady(
  ctx: PodContext,
  spec: StoredSpec,
  sandboxId: string,
  expected: number,
  started: StartedReplica[],
  timeoutMs: number,
): Promise<void> {
  const [first] = spec.ports;
  if (!first || expected === 0) return;
  if (isDnat(spec)) {
    // Own namespaces: the sandbox cannot see their listeners, so it connects to each one instead.
    const [one] = started;
    if (!one) return;
    const pod = podOfReplica(one.name);
    ctx.progress(`Waiting for ${started.map((r) => r.name).join(', ')} to accept on port ${first.containerPort} ...`);
    const wait = { pod, sandboxId, port: first.containerPort, replicas: started, timeoutMs, failIfExited: (w: Array<{ id: string; name: string }>) => failIfExited(ctx.runtime, w) };
    return waitAccepting(ctx, wait);
  }
  ctx.progress(`Waiting for ${expected} listener${expected === 1 ? '' : 's'} on port ${first.containerPort} ...`);
  const seen = await waitForListeners(ctx.runtime, {
    sandboxId,
    port: first.containerPort,
    count: expected,
    watch: started.map(({ id, name }) => ({ id, name })),
    timeoutMs,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  if (seen === undefined) ctx.warn('the sandbox image cannot count listeners (no /pause --listeners): checked only that the replicas are running');
}

/** SIGTERM, up to `timeoutS` to drain, then SIGKILL; then remove. */
export async function stopAndRemove(ctx: PodContext, ids: string[], timeoutS: number): Promise<void> {
  await Promise.all(
    ids.map(async (id) => {
      await ctx.runtime.stopContainer(id, timeoutS);
      await ctx.runtime.removeContainer(id);
    }),
  );
}
