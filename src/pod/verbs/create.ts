// create: sandbox first (it alone publishes the ports), then the replicas joining its network
// namespace, then wait until every replica listens. Any failure removes what this call made.
import { DEFAULT_SANDBOX_IMAGE } from '../../package-info.ts';
import type { PodContext } from '../context.ts';
import { throwIfAborted } from '../../errors.ts';
import { modeOf } from '../modes/index.ts';
import { assertHostPortsFree, engineIsLocal } from '../ops/host-ports.ts';
import { ensureAppImage, ensureSandboxImage } from '../state/images.ts';
import { monitorReplicas } from '../ops/monitor.ts';
import { withPodLock } from '../state/lock.ts';
import { sandboxName, storedSpec } from '../model/names.ts';
import { podExists, runSandbox } from '../ops/sandbox.ts';
import { unmetHostSysctls } from '../../runtime/host-sysctls.ts';
import { writeState } from '../state/records.ts';
import { observePod } from '../state/observe.ts';
import { earlyReplicas, waitReady, type StartedReplica } from '../ops/replicas.ts';
import { formatPort, type PodMode, type PodSpec } from '../model/spec.ts';
import { Undo } from '../ops/undo.ts';
import { checkOptions } from '../ops/options-check.ts';

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
  mode: PodMode;
  /** Modes with rules (dnat): the rules now in force in the sandbox's namespace. */
  rules?: string[];
  image: string;
  seconds: number;
}

const MIGRATE = { 'net.ipv4.tcp_migrate_req': '1' };

/**
 * A pod in the host's own namespace (local processes, --mode host) gets the host's sysctls, not its
 * own. Said once, when create has succeeded, with the way out; the host's value is the user's to
 * change, not ours. Silent when the host already has tcp_migrate_req=1.
 */
function warnUnmetSysctls(ctx: PodContext, hostNamespace: boolean): void {
  const local = engineIsLocal(ctx.runtime.endpoint);
  const unmet = ctx.runtime.unmetSysctls?.(MIGRATE) ?? (hostNamespace && local ? unmetHostSysctls(MIGRATE) : {});
  const way = "to make them lossless, run `sysctl -w net.ipv4.tcp_migrate_req=1` as root (it applies to the whole host)";
  const cost = "scale-down and rollout may reset connections waiting in a closing replica's queue";
  if (hostNamespace && !local && !ctx.runtime.unmetSysctls) {
    ctx.warn(`the pod shares the engine host's network namespace, whose net.ipv4.tcp_migrate_req cannot be read from here: unless it is 1, ${cost}; ${way} on that host`);
    return;
  }
  if (!('net.ipv4.tcp_migrate_req' in unmet)) return;
  const host = unmet['net.ipv4.tcp_migrate_req'];
  ctx.warn(
    host === undefined
      ? `this kernel has no net.ipv4.tcp_migrate_req (Linux 5.14+): ${cost}`
      : `the pod shares the host's network namespace, where net.ipv4.tcp_migrate_req is ${host}: ${cost}; ${way}`,
  );
}

export async function createPod(ctx: PodContext, spec: PodSpec, options: CreateOptions): Promise<CreateResult> {
  const started = Date.now();
  // Asked at once: "engine down" still comes first (either call says it), "exists" next.
  const [, existing] = await Promise.all([ctx.runtime.info(), observePod(ctx.runtime, spec.name)]);
  if (existing) throw podExists(existing);

  const sandboxImage = options.sandboxImage ?? DEFAULT_SANDBOX_IMAGE;
  const mode = modeOf(spec);
  mode.checkEngine(ctx.runtime);
  await checkOptions(ctx, spec.name, storedSpec(spec));
  await Promise.all([ensureAppImage(ctx, spec.image), ensureSandboxImage(ctx, sandboxImage), mode.ensureImages(ctx)]);

  return withPodLock(ctx, spec.name, { image: sandboxImage }, async () => {
    // Checked again under the lock: a concurrent create of the same pod may have just finished.
    const raced = await observePod(ctx.runtime, spec.name);
    if (raced) throw podExists(raced);
    // Under the lock: a concurrent create of this pod must be told "exists", not "port taken".
    // A host-namespace pod's sandbox counts the port's listeners itself, on any engine (afterSandbox).
    if (engineIsLocal(ctx.runtime.endpoint) && mode.publishes) await assertHostPortsFree(spec.ports);
    const undo = new Undo(ctx.runtime);
    try {
      // Desired state first, as Compose and the kubelet do: a create killed at any later step
      // leaves a pod that says what it should run, which `repair` completes and `rm` removes.
      undo.record(await writeState(ctx, spec.name, sandboxImage, { spec: storedSpec(spec), replicas: spec.replicas }));
      const network = await mode.prepare(ctx, spec.name);
      if (network) undo.networkMade(network);
      ctx.progress(`Starting sandbox ${sandboxName(spec.name)} (ports ${spec.ports.map(formatPort).join(', ')}) ...`);
      const numbers = Array.from({ length: spec.replicas }, (_, i) => i + 1);
      // Created while the sandbox starts (it records the sandbox in undo the moment it exists).
      const early = earlyReplicas(ctx, spec.name, spec, numbers, undo);
      const sandboxId = await runSandbox(ctx, spec, sandboxImage, early);
      undo.sandboxMade(sandboxId);
      await mode.afterSandbox(ctx, storedSpec(spec), sandboxId);
      throwIfAborted(ctx.signal);

      ctx.progress(`Starting ${spec.replicas} replica${spec.replicas === 1 ? '' : 's'} of ${spec.image} ...`);
      const replicas = await early.start();
      throwIfAborted(ctx.signal);
      await waitReady(ctx, spec, sandboxId, spec.replicas, replicas, options.waitTimeoutMs);
      await monitorReplicas(ctx, replicas, options.monitorMs ?? 0);
      const rules = await mode.balance(ctx, spec.name, sandboxId, storedSpec(spec));
      // Once the pod serves: a create that fails has a better line to say than this one.
      warnUnmetSysctls(ctx, mode.hostNamespace);

      return {
        mode: mode.name,
        ...(rules.length > 0 ? { rules } : {}),
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
