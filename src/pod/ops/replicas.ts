// Starting and stopping replicas, shared by create, scale and rm. Independent engine calls run in
// parallel: ten replicas one after the other are ten times slower than they need to be.
import type { ContainerConfig } from '../../runtime/runtime.ts';
import type { PodContext } from '../context.ts';
import { nameConflict } from '../state/conflict.ts';
import { modeOf, type StartedReplica } from '../modes/index.ts';
import { podOfReplica, replicaLabels, replicaName, type StoredSpec } from '../model/names.ts';
import { statusOf } from '../../runtime/docker-errors.ts';
import type { Undo } from './undo.ts';
import { waitHealthy } from '../state/healthy.ts';
import { containerOptions, namespaceOptions, sandboxOwnsNamespace } from './container-options.ts';

export type { StartedReplica } from '../modes/index.ts';

export function replicaConfig(pod: string, n: number, spec: StoredSpec, version: string): ContainerConfig {
  const [first] = spec.ports;
  const config: ContainerConfig = {
    name: replicaName(pod, n),
    image: spec.image,
    // The user's labels first: ours say which pod a container is part of, and must win.
    labels: { ...spec.options?.labels, ...replicaLabels(pod, n, spec, version) },
    env: { ...spec.env, INSTANCE: replicaName(pod, n), PORT: String(first?.containerPort ?? 8080) },
    stopTimeout: spec.stopTimeout,
  };
  const mode = modeOf(spec);
  const namespace = mode.replicaNamespace(pod);
  if (namespace.kind !== 'pod') config.namespace = namespace;
  const options = containerOptions(spec.options);
  if (options) config.options = options;
  const ownNamespace = sandboxOwnsNamespace(namespace) ? undefined : namespaceOptions(spec.options);
  if (ownNamespace) config.namespaceOptions = ownNamespace;
  // On the host's own stack, a port published on one address is what HOST asks the example server
  // (and many others) to bind; elsewhere the sandbox's publishing does it.
  if (mode.hostNamespace && first?.hostIp && spec.env['HOST'] === undefined) config.env['HOST'] = first.hostIp;
  return config;
}

/** Creates (does not start) replica `n` in the sandbox's namespace and records it in `undo`; a taken name says whose it is. */
async function createReplica(ctx: PodContext, pod: string, spec: StoredSpec, sandboxId: string, n: number, undo: Undo): Promise<StartedReplica> {
  const config = replicaConfig(pod, n, spec, ctx.version);
  let id: string;
  try {
    id = await ctx.runtime.createContainer(sandboxId, config);
  } catch (err) {
    if (statusOf((err as { cause?: unknown }).cause) === 409) throw await nameConflict(ctx.runtime, config.name, err);
    throw err;
  }
  undo.replica(id);
  return { n, id, name: config.name };
}

/** Runs `each` for every number in parallel; waits for all (so undo knows every one made), then throws the first failure. */
async function forEachReplica(numbers: number[], each: (n: number) => Promise<StartedReplica>): Promise<StartedReplica[]> {
  const results = await Promise.allSettled(numbers.map(each));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<StartedReplica>).value);
}

/** Creates (does not start) replicas `numbers` in the sandbox's namespace; each one made is recorded in `undo`. */
function createReplicas(ctx: PodContext, pod: string, spec: StoredSpec, sandboxId: string, numbers: number[], undo: Undo): Promise<StartedReplica[]> {
  return forEachReplica(numbers, (n) => createReplica(ctx, pod, spec, sandboxId, n, undo));
}

/**
 * create: the replicas are created while the sandbox starts (a container can join the namespace
 * of one that exists but does not run yet) and started once it runs: the creates then cost no
 * time of their own (about 30 ms for 3 replicas, 100+ ms for 10 here). Hand `whileStarting` to
 * runSandbox, then `start()`.
 */
export function earlyReplicas(ctx: PodContext, pod: string, spec: StoredSpec, numbers: number[], undo: Undo) {
  let sandbox: string | undefined;
  let made: Promise<StartedReplica[]> | undefined;
  return {
    async whileStarting(sandboxId: string): Promise<void> {
      undo.sandboxMade(sandboxId);
      sandbox = sandboxId;
      made = createReplicas(ctx, pod, spec, sandboxId, numbers, undo);
      await made;
    },
    /** The sandbox did not start: its replicas go, then it (Podman refuses the other order). */
    async discard(): Promise<void> {
      await made?.catch(() => undefined);
      await Promise.allSettled(numbers.map((n) => ctx.runtime.removeContainer(replicaName(pod, n))));
      if (sandbox) await ctx.runtime.removeContainer(sandbox).catch(() => undefined);
      made = undefined;
      sandbox = undefined;
    },
    /** Starts the replicas created for the sandbox that runs now. */
    async start(): Promise<StartedReplica[]> {
      if (!made) throw new Error('earlyReplicas: start() before the sandbox was made');
      const replicas = await made;
      await Promise.all(replicas.map((r) => ctx.runtime.startContainer(r.id)));
      return replicas;
    },
  };
}

export type EarlyReplicas = ReturnType<typeof earlyReplicas>;

/** Creates and starts replicas `numbers` in the sandbox's namespace (each started as soon as it is made); each one made is recorded in `undo`. */
export function startReplicas(ctx: PodContext, pod: string, spec: StoredSpec, sandboxId: string, numbers: number[], undo: Undo): Promise<StartedReplica[]> {
  return forEachReplica(numbers, async (n) => {
    const replica = await createReplica(ctx, pod, spec, sandboxId, n, undo);
    await ctx.runtime.startContainer(replica.id);
    return replica;
  });
}

const SHARED_PORT_HINT =
  'the replicas share one port, so a check that calls 127.0.0.1:$PORT may be answered by a sibling: check the replica itself (a file, an admin port, a unix socket); see the README';

/**
 * Waits until the started replicas serve: listening, the way the pod's mode counts it, then healthy
 * where they have a health check. One --wait-timeout covers both.
 */
export async function waitReady(
  ctx: PodContext,
  spec: StoredSpec,
  sandboxId: string,
  expected: number,
  started: StartedReplica[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const [one] = started;
  const pod = one ? podOfReplica(one.name) : '';
  const mode = modeOf(spec);
  await mode.waitReady(ctx, spec, { pod, sandboxId, expected, started, timeoutMs });
  // Replicas on a network of their own have an address each: a per-replica HTTP probe works there.
  const sharedPort = mode.replicaNamespace(pod).kind !== 'network';
  await waitHealthy(ctx.runtime, {
    replicas: started,
    deadline,
    timeoutMs,
    progress: ctx.progress,
    ...(sharedPort ? { hint: SHARED_PORT_HINT } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
}

/** The stop signal (SIGTERM unless --stop-signal or the image say otherwise), up to `timeoutS` to drain, then SIGKILL; then remove. */
export async function stopAndRemove(ctx: PodContext, ids: string[], timeoutS: number): Promise<void> {
  await Promise.all(
    ids.map(async (id) => {
      await ctx.runtime.stopContainer(id, timeoutS);
      await ctx.runtime.removeContainer(id);
    }),
  );
}
