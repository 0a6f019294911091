// The sandbox: the container that owns the pod's network namespace and alone publishes its ports.
// Made by create, and again by repair when it is gone.
import { engineMessage, isPortTaken, statusOf } from '../../runtime/docker-errors.ts';
import { nameConflict } from '../state/conflict.ts';
import type { PodContext } from '../context.ts';
import { modeOf } from '../modes/index.ts';
import { ExitCode, PodError } from '../../errors.ts';
import { LABEL, sandboxLabels, sandboxName } from '../model/names.ts';
import { isIncomplete, observePod, type ObservedPod } from '../state/observe.ts';
import { formatPort, type PodSpec } from '../model/spec.ts';
import type { NamespaceOptions, SandboxConfig } from '../../runtime/runtime.ts';
import { namespaceOptions, sandboxOwnsNamespace } from './container-options.ts';
import type { EarlyReplicas } from './replicas.ts';

/** Says what runs, not what was asked: a pod of 3 with 0 replicas left is not "3 replicas". */
export function podExists(pod: ObservedPod): PodError {
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

/** With `early`, the replicas are created while the sandbox starts (create); without, repair's way. */
export async function runSandbox(ctx: PodContext, spec: PodSpec, image: string, early?: EarlyReplicas): Promise<string> {
  const mode = modeOf(spec);
  let namespace = mode.sandboxNamespace(spec.name);
  let joined: NamespaceOptions | undefined;
  if (sandboxOwnsNamespace(mode.replicaNamespace(spec.name))) {
    // As `docker run --network a --network b`: the namespace is made on the first, joins the rest.
    const [first, ...rest] = spec.options?.networks ?? [];
    if (first && !namespace) namespace = { kind: 'network', name: first };
    joined = namespaceOptions(spec.options, first && namespace?.kind === 'network' && namespace.name === first ? rest : (spec.options?.networks ?? []));
  }
  const config: SandboxConfig = {
    name: sandboxName(spec.name),
    image,
    labels: sandboxLabels(spec, ctx.version),
    ports: mode.publishes ? spec.ports : [],
    sysctls: mode.sandboxSysctls,
    ...(namespace ? { namespace } : {}),
    ...(joined ? { namespaceOptions: joined } : {}),
  };
  const whileStarting = early ? (id: string) => early.whileStarting(id) : undefined;
  try {
    return await ctx.runtime.runPodSandbox(config, whileStarting);
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause ?? err;
    if (statusOf(cause) === 409) {
      // This pod's own sandbox (a create that raced this one), or someone else's name.
      const named = await ctx.runtime.containerStatus(config.name).catch(() => undefined);
      const other = named?.labels[LABEL.pod] === spec.name ? await observePod(ctx.runtime, spec.name) : undefined;
      if (other) throw podExists(other);
      throw await nameConflict(ctx.runtime, config.name, err);
    }
    if (isPortTaken(cause)) {
      const ports = spec.ports.map(formatPort).join(', ');
      throw new PodError(`a host port of ${ports} is already in use (${engineMessage(cause).replace(/^.*?: (?=Bind|Error starting)/, '')}); choose a free host port with --port`, ExitCode.conflict, { cause: err });
    }
    if (/tcp_migrate_req/.test(engineMessage(cause))) {
      // Kernels before 5.14 lack the sysctl; the pod still works, scale-down may reset a few queued connections.
      ctx.warn('this kernel has no net.ipv4.tcp_migrate_req (Linux 5.14+): scale-down may reset connections waiting in a closing listener\'s queue');
      const { 'net.ipv4.tcp_migrate_req': _, ...rest } = mode.sandboxSysctls;
      // The replicas made for the sandbox that failed name it: they go with it, and are made again.
      await early?.discard();
      return ctx.runtime.runPodSandbox({ ...config, sysctls: rest }, whileStarting);
    }
    throw err;
  }
}
