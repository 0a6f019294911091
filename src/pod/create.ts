// create: sandbox first (it alone publishes the ports), then the replicas joining its network
// namespace, then wait until every replica listens. Any failure removes what this call made.
import { DEFAULT_SANDBOX_IMAGE } from '../package-info.ts';
import { engineMessage, isPortTaken, statusOf } from '../runtime/docker-errors.ts';
import { nameConflict } from './conflict.ts';
import type { PodContext } from './context.ts';
import { ExitCode, PodError, throwIfAborted } from './errors.ts';
import { createPodNetwork, DNAT_SYSCTLS, dnatRuntime, isDnat, publishBackends } from './dnat.ts';
import { assertHostPortsFree, engineIsLocal } from './host-ports.ts';
import { ensureAppImage, ensureNatImage, ensureSandboxImage } from './images.ts';
import { monitorReplicas } from './monitor.ts';
import { withPodLock } from './lock.ts';
import { LABEL, networkName, sandboxLabels, sandboxName, storedSpec } from './names.ts';
import { writeState } from './state.ts';
import { isIncomplete, observePod, type ObservedPod } from './observe.ts';
import { startReplicas, waitReady, type StartedReplica } from './replicas.ts';
import { formatPort, type PodSpec } from './spec.ts';
import { Undo } from './undo.ts';

export interface CreateOptions {
  sandboxImage?: string;
  waitTimeoutMs: number;
  /** Every replica must stay up this long after it listens (0: no window). */
  monitorMs?: number;
}

export interface CreateResult {
  name: string;
  sandbox: { id: string; name: string };
  replicas: StartedReplica[];
  ports: string[];
  mode: 'reuseport' | 'dnat';
  /** DNAT pods: the rules now in force in the sandbox's namespace. */
  rules?: string[];
  image: string;
  seconds: number;
}

// Lets the kernel hand a closing listener's queued connections to its siblings (Linux 5.14+),
// which makes scale-down lossless. Per network namespace, so it is set on the sandbox only.
const POD_SYSCTLS = { 'net.ipv4.tcp_migrate_req': '1' };

/**
 * A runtime without a namespace per pod (local processes) gives the pod the host's sysctls. Said
 * once, when create has succeeded, with the way out; the host's value is the user's to change, not ours.
 */
function warnUnmetSysctls(ctx: PodContext): void {
  const unmet = ctx.runtime.unmetSysctls?.(POD_SYSCTLS) ?? {};
  if (!('net.ipv4.tcp_migrate_req' in unmet)) return;
  const host = unmet['net.ipv4.tcp_migrate_req'];
  ctx.warn(
    host === undefined
      ? "this kernel has no net.ipv4.tcp_migrate_req (Linux 5.14+): scale-down and rollout may reset connections waiting in a closing replica's queue"
      : `the pod shares the host's network namespace, where net.ipv4.tcp_migrate_req is ${host}: scale-down and rollout may reset connections waiting in a closing replica's queue; to make them lossless, run \`sysctl -w net.ipv4.tcp_migrate_req=1\` as root (it applies to the whole host)`,
  );
}

/** Says what runs, not what was asked: a pod of 3 with 0 replicas left is not "3 replicas". */
function exists(pod: ObservedPod): PodError {
  const { name } = pod;
  if (isIncomplete(pod)) {
    const way = pod.recorded ? `\`reuseport-pod repair ${name}\` completes it, \`reuseport-pod rm ${name}\` removes it` : `\`reuseport-pod rm ${name}\` removes what is left`;
    return new PodError(`pod "${name}" already exists, incomplete (a command on it was interrupted); ${way}`, ExitCode.conflict);
  }
  const n = pod.replicas.length;
  const desired = pod.desired === n ? '' : ` of ${pod.desired} desired`;
  return new PodError(
    `pod "${name}" already exists (${n} replica${n === 1 ? '' : 's'}${desired}); use \`reuseport-pod scale ${name} --replicas N\`, or \`reuseport-pod rm ${name}\` first`,
    ExitCode.conflict,
  );
}

export async function runSandbox(ctx: PodContext, spec: PodSpec, image: string): Promise<string> {
  const dnat = isDnat(spec);
  const config = {
    name: sandboxName(spec.name),
    image,
    labels: sandboxLabels(spec, ctx.version),
    ports: spec.ports,
    sysctls: dnat ? { ...POD_SYSCTLS, ...DNAT_SYSCTLS } : POD_SYSCTLS,
    ...(dnat ? { network: networkName(spec.name) } : {}),
  };
  try {
    return await ctx.runtime.runPodSandbox(config);
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause ?? err;
    if (statusOf(cause) === 409) {
      // This pod's own sandbox (a create that raced this one), or someone else's name.
      const named = await ctx.runtime.containerStatus(config.name).catch(() => undefined);
      const other = named?.labels[LABEL.pod] === spec.name ? await observePod(ctx.runtime, spec.name) : undefined;
      if (other) throw exists(other);
      throw await nameConflict(ctx.runtime, config.name, err);
    }
    if (isPortTaken(cause)) {
      const ports = spec.ports.map(formatPort).join(', ');
      throw new PodError(`a host port of ${ports} is already in use (${engineMessage(cause).replace(/^.*?: (?=Bind|Error starting)/, '')}); choose a free host port with --port`, ExitCode.conflict, { cause: err });
    }
    if (/tcp_migrate_req/.test(engineMessage(cause))) {
      // Kernels before 5.14 lack the sysctl; the pod still works, scale-down may reset a few queued connections.
      ctx.warn('this kernel has no net.ipv4.tcp_migrate_req (Linux 5.14+): scale-down may reset connections waiting in a closing listener\'s queue');
      return ctx.runtime.runPodSandbox({ ...config, sysctls: dnat ? DNAT_SYSCTLS : {} });
    }
    throw err;
  }
}

export async function createPod(ctx: PodContext, spec: PodSpec, options: CreateOptions): Promise<CreateResult> {
  const started = Date.now();
  await ctx.runtime.info(); // "engine down" before anything else
  const existing = await observePod(ctx.runtime, spec.name);
  if (existing) throw exists(existing);

  const sandboxImage = options.sandboxImage ?? DEFAULT_SANDBOX_IMAGE;
  const dnat = isDnat(spec);
  if (dnat) dnatRuntime(ctx.runtime);
  await Promise.all([ensureAppImage(ctx, spec.image), ensureSandboxImage(ctx, sandboxImage), dnat ? ensureNatImage(ctx) : undefined]);

  return withPodLock(ctx, spec.name, { image: sandboxImage }, async () => {
    // Checked again under the lock: a concurrent create of the same pod may have just finished.
    const raced = await observePod(ctx.runtime, spec.name);
    if (raced) throw exists(raced);
    // Under the lock: a concurrent create of this pod must be told "exists", not "port taken".
    if (engineIsLocal(ctx.runtime.endpoint)) await assertHostPortsFree(spec.ports);
    const undo = new Undo(ctx.runtime);
    try {
      // Desired state first, as Compose and the kubelet do: a create killed at any later step
      // leaves a pod that says what it should run, which `repair` completes and `rm` removes.
      undo.record(await writeState(ctx, spec.name, sandboxImage, { spec: storedSpec(spec), replicas: spec.replicas }));
      if (dnat) {
        ctx.progress(`Creating network ${networkName(spec.name)} ...`);
        undo.networkMade(await createPodNetwork(ctx, spec.name));
      }
      ctx.progress(`Starting sandbox ${sandboxName(spec.name)} (ports ${spec.ports.map(formatPort).join(', ')}) ...`);
      const sandboxId = await runSandbox(ctx, spec, sandboxImage);
      undo.sandboxMade(sandboxId);
      throwIfAborted(ctx.signal);

      ctx.progress(`Starting ${spec.replicas} replica${spec.replicas === 1 ? '' : 's'} of ${spec.image} ...`);
      const numbers = Array.from({ length: spec.replicas }, (_, i) => i + 1);
      const replicas = await startReplicas(ctx, spec.name, spec, sandboxId, numbers, undo);
      throwIfAborted(ctx.signal);
      await waitReady(ctx, spec, sandboxId, spec.replicas, replicas, options.waitTimeoutMs);
      await monitorReplicas(ctx, replicas, options.monitorMs ?? 0);
      const rules = dnat ? await publishBackends(ctx, spec.name, sandboxId, storedSpec(spec)) : undefined;
      // Once the pod serves: a create that fails has a better line to say than this one.
      warnUnmetSysctls(ctx);

      return {
        mode: dnat ? 'dnat' : 'reuseport',
        ...(rules ? { rules } : {}),
        name: spec.name,
        sandbox: { id: sandboxId, name: sandboxName(spec.name) },
        replicas,
        ports: spec.ports.map(formatPort),
        image: spec.image,
        seconds: (Date.now() - started) / 1000,
      };
    } catch (err) {
      ctx.progress(`${ctx.signal?.aborted ? 'Interrupted' : 'Failed'}; removing what this create made ...`);
      await undo.run();
      throw err;
    }
  });
}
