// rm: every object carrying the pod's label. Records first, then replicas (gracefully), then the
// sandbox, then the network. Removing a sandbox under joined replicas strands them, and Podman
// refuses it outright.
import type { ContainerSummary } from '../../runtime/runtime.ts';
import type { PodContext } from '../context.ts';
import { withPodLock } from '../state/lock.ts';
import { removePodNetworks } from '../modes/dnat.ts';
import { LABEL } from '../model/names.ts';
import { markerImage, observePod, requirePod } from '../state/observe.ts';
import { stopAndRemove } from '../ops/replicas.ts';

export interface RemoveResult {
  name: string;
  removed: string[];
  /** Networks removed (a DNAT pod's own network). */
  networks: string[];
  seconds: number;
}

export async function removePod(ctx: PodContext, name: string, options: { timeoutS?: number }): Promise<RemoveResult> {
  const started = Date.now();
  const seen = await requirePod(ctx.runtime, name);
  return withPodLock(ctx, name, { image: markerImage(seen) }, async () => {
    const pod = await observePod(ctx.runtime, name);
    // Only a stale lock was left (an interrupted command): taking the lock removed it.
    if (!pod) return { name, removed: seen.records.map((r) => r.name.replace(/^\//, '')), networks: [], seconds: (Date.now() - started) / 1000 };
    const timeoutS = options.timeoutS ?? pod.spec?.stopTimeout ?? 10;
    const removed: string[] = [];
    // The records go first: an rm killed half-way then leaves a pod that records nothing, which
    // ls shows as incomplete and repair does not bring back; rm again finishes it.
    const records = pod.records.filter((r) => r.labels[LABEL.role] === 'state');
    await Promise.all(records.map((r) => ctx.runtime.removeContainer(r.id)));
    removed.push(...records.map((r) => r.name));
    // Everything else with the pod's label, whatever its state: replicas (gracefully) and what an
    // interrupted command left (NAT helpers, unnumbered replicas), then the sandbox(es): a second
    // one is an interrupted repair's re-create.
    const isSandbox = (c: ContainerSummary): boolean => c.labels[LABEL.role] === 'sandbox';
    const members = [...pod.replicas.map((r) => r.container), ...pod.others.filter((c) => !isSandbox(c))];
    if (members.length > 0) {
      if (pod.replicas.length > 0) ctx.progress(`Stopping ${pod.replicas.length} replica${pod.replicas.length === 1 ? '' : 's'} (up to ${timeoutS} s to drain) ...`);
      await stopAndRemove(ctx, members.map((c) => c.id), timeoutS);
      removed.push(...members.map((c) => c.name));
    }
    const sandboxes = [...(pod.sandbox ? [pod.sandbox] : []), ...pod.others.filter(isSandbox)];
    await stopAndRemove(ctx, sandboxes.map((c) => c.id), timeoutS);
    removed.push(...sandboxes.map((c) => c.name));
    // A DNAT pod's network, once nothing is attached to it (its rules went with the sandbox's namespace).
    const networks = await removePodNetworks(ctx.runtime, name);
    return { name, removed, networks, seconds: (Date.now() - started) / 1000 };
  });
}
