// rollout: replace every replica whose image or environment differs from the target (replace.ts
// says how, without ever having fewer listeners than before).
//
// The rule for what is recorded: the target is recorded FIRST, with the spec it replaces, then the
// replicas are converged on it (desired state, then converge, as Compose and the kubelet do). So a
// rollout killed at any point leaves a pod whose record names the target: the same rollout again,
// `repair`, or `scale` finish it, and none of them starts a replica of the old spec. A rollout that
// fails (a new replica does not listen, or dies within the --monitor window) puts the previous
// spec back, record first, then its replicas, and exits non-zero (Swarm's
// --update-failure-action rollback). Ctrl-C stops it where it is: the target stays recorded.
//
// `--undo` is a rollout like any other whose target is the recorded previous spec: it records the
// current one as its previous, so a second undo goes forward again (kubectl rollout undo).
import type { PodContext } from '../context.ts';
import { ExitCode, PodError, usageError } from '../../errors.ts';
import { compactOptions, OPTION_FLAGS, type ReplicaOptions } from '../model/options.ts';
import { modeOf } from '../modes/index.ts';
import { sandboxOwnsNamespace } from '../ops/container-options.ts';
import { checkOptions } from '../ops/options-check.ts';
import { ensureAppImage } from '../state/images.ts';
import { withPodLock } from '../state/lock.ts';
import { specHash, type StoredSpec } from '../model/names.ts';
import { markerImage, requirePod, type ObservedPod } from '../state/observe.ts';
import { replaceReplicas, ReplaceError, replicasNotOn, type Replaced } from '../ops/replace.ts';
import { requireServing } from '../ops/serving.ts';
import { writeState } from '../state/records.ts';

export interface RolloutOptions {
  image?: string;
  env?: Record<string, string>;
  /** The options given: each one replaces the pod's; the others stay. */
  options?: ReplicaOptions;
  /**
   * The new drain time, in s. It needs no new replicas: rm, scale and rollout pass the recorded
   * one to every stop. New replicas carry it as their own StopTimeout (the engine's own stops).
   */
  stopTimeout?: number;
  maxSurge: number;
  waitTimeoutMs: number;
  /** Each new batch must stay up this long after it listens (0: no window). */
  monitorMs: number;
  /** Back to the spec before the last rollout, instead of image and env. */
  undo?: boolean;
}

export interface RolloutResult {
  name: string;
  image: string;
  /** The stop timeout before, when this rollout changed it. */
  stopTimeoutFrom?: number;
  stopTimeout: number;
  replaced: Replaced[];
  seconds: number;
}

/** What is recorded: the replicas' spec (their hash) and the drain time, which no replica carries in its hash. */
const sameSpec = (a: StoredSpec, b: StoredSpec): boolean => specHash(a) === specHash(b) && a.stopTimeout === b.stopTimeout;

export async function rolloutPod(ctx: PodContext, name: string, options: RolloutOptions): Promise<RolloutResult> {
  const started = Date.now();
  const seen = await requirePod(ctx.runtime, name);
  if (options.undo) await ensureAppImage(ctx, undoTarget(seen).image);
  else if (options.image) await ensureAppImage(ctx, options.image);
  return withPodLock(ctx, name, { image: markerImage(seen) }, async () => {
    const pod = await requirePod(ctx.runtime, name);
    const { sandbox, spec: current } = requireServing(pod);
    const target: StoredSpec = options.undo
      ? undoTarget(pod)
      : withOptions({ ...current, image: options.image ?? current.image, env: options.env ?? current.env, stopTimeout: options.stopTimeout ?? current.stopTimeout }, current.options, options.options);
    refuseNamespaceChange(name, current, target);
    if (options.options?.networks) await checkOptions(ctx, name, target);
    // Re-running an interrupted rollout: the target is already recorded, and so is what it replaced.
    const previous = sameSpec(current, target) ? pod.previous : current;
    // What a rollback records as its own previous, for a later --undo: the spec before `previous`
    // (known unless this re-runs an interrupted rollout), not the target that just failed.
    const earlier = sameSpec(current, target) ? target : pod.previous;
    if (!sameSpec(current, target)) await writeState(ctx, pod, markerImage(pod), { spec: target, replicas: pod.desired, previous: current });
    const outgoing = replicasNotOn(pod, target);
    const seconds = (): number => (Date.now() - started) / 1000;
    const timeout = { stopTimeout: target.stopTimeout, ...(current.stopTimeout !== target.stopTimeout ? { stopTimeoutFrom: current.stopTimeout } : {}) };
    if (outgoing.length === 0) return { name, image: target.image, ...timeout, replaced: [], seconds: seconds() };

    const step = { maxSurge: options.maxSurge, waitTimeoutMs: options.waitTimeoutMs, monitorMs: options.monitorMs };
    try {
      const replaced = await replaceReplicas(ctx, await requirePod(ctx.runtime, name), sandbox.id, target, outgoing, step);
      return { name, image: target.image, ...timeout, replaced, seconds: seconds() };
    } catch (err) {
      const done = err instanceof ReplaceError ? err.replaced.length : 0;
      const reason = err instanceof Error ? err.message : String(err);
      const code = err instanceof PodError ? err.exitCode : ExitCode.failure;
      if (ctx.signal?.aborted || !previous || sameSpec(previous, target)) {
        throw new PodError(
          `rollout of "${name}" stopped after replacing ${done} of ${outgoing.length} replicas; the pod records ${target.image} as its spec: ` +
            (options.undo
              ? `\`reuseport-pod repair ${name}\` finishes it (another --undo would go forward again). ${reason}`
              : `run the rollout again or \`reuseport-pod repair ${name}\` to finish it. ${reason}`),
          code,
          { cause: err },
        );
      }
      throw await rollBack(ctx, name, sandbox.id, { target, previous, earlier, step, done, reason, code, cause: err });
    }
  });
}

function undoTarget(pod: ObservedPod): StoredSpec {
  if (!pod.previous) {
    throw new PodError(`pod "${pod.name}" has no earlier spec to go back to: no rollout has changed it since it was created`, ExitCode.failure);
  }
  return pod.previous;
}

function withOptions(spec: StoredSpec, current: ReplicaOptions | undefined, given: ReplicaOptions | undefined): StoredSpec {
  const { options: _, ...rest } = spec;
  const options = compactOptions({ ...current, ...given });
  return options ? { ...rest, options } : rest;
}

const NAMESPACE_KEYS = ['networks', 'networkAliases', 'addHosts', 'dns'] as const;

/**
 * Networks, /etc/hosts lines and resolvers belong to the network namespace. Where the sandbox owns
 * it, replacing replicas cannot change them, and the sandbox is never replaced while serving.
 */
function refuseNamespaceChange(name: string, current: StoredSpec, target: StoredSpec): void {
  if (!sandboxOwnsNamespace(modeOf(target).replicaNamespace(name))) return;
  const changed = NAMESPACE_KEYS.filter((k) => JSON.stringify(current.options?.[k] ?? []) !== JSON.stringify(target.options?.[k] ?? []));
  if (changed.length === 0) return;
  throw usageError(
    `${changed.map((k) => OPTION_FLAGS[k]).join(', ')}: the replicas share the sandbox's network namespace, which a rollout keeps; ` +
      `\`reuseport-pod rm ${name}\` and create it again with the new value (or use --mode dnat, whose replicas own theirs)`,
  );
}

interface Failure {
  target: StoredSpec;
  previous: StoredSpec;
  /** Recorded as the previous spec once `previous` is back (undefined: none, --undo has nothing to undo). */
  earlier: StoredSpec | undefined;
  step: { maxSurge: number; waitTimeoutMs: number; monitorMs: number };
  done: number;
  reason: string;
  code: ExitCode;
  cause: unknown;
}

/** Puts the previous spec back (record first) and its replicas; resolves with the error to throw. */
async function rollBack(ctx: PodContext, name: string, sandboxId: string, f: Failure): Promise<PodError> {
  ctx.progress(`Rolling back "${name}" to ${f.previous.image} ...`);
  const pod = await requirePod(ctx.runtime, name);
  await writeState(ctx, pod, markerImage(pod), { spec: f.previous, replicas: pod.desired, previous: f.earlier });
  const failed = `rollout of "${name}" to ${f.target.image} failed: ${f.reason}`;
  try {
    // Monitoring the way back too: the old spec was serving, but say so if it does not any more.
    const back = await replaceReplicas(ctx, await requirePod(ctx.runtime, name), sandboxId, f.previous, replicasNotOn(pod, f.previous), f.step);
    const put = back.length === 0 ? 'no replica had been replaced' : `${back.length} replaced replica${back.length === 1 ? '' : 's'} put back`;
    return new PodError(`${failed}\n  rolled back: the pod runs ${f.previous.image} again (${put})`, f.code, { cause: f.cause });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return new PodError(`${failed}\n  the rollback to ${f.previous.image} failed too: ${why}; \`reuseport-pod ps ${name}\` shows what runs`, f.code, { cause: f.cause });
  }
}
