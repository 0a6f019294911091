// rm: replicas first (gracefully), then the sandbox, then the pod's records. Removing a sandbox
// under joined replicas strands them, and Podman refuses it outright.
import type { PodContext } from './context.ts';
import { withPodLock } from './lock.ts';
import { removePodNetworks } from './dnat.ts';
import { LABEL } from './names.ts';
import { markerImage, requirePod } from './observe.ts';
import { stopAndRemove } from './replicas.ts';

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
    const pod = await requirePod(ctx.runtime, name);
    const timeoutS = options.timeoutS ?? pod.spec?.stopTimeout ?? 10;
    const removed: string[] = [];
    if (pod.replicas.length > 0) {
      ctx.progress(`Stopping ${pod.replicas.length} replica${pod.replicas.length === 1 ? '' : 's'} (up to ${timeoutS} s to drain) ...`);
      await stopAndRemove(ctx, pod.replicas.map((r) => r.container.id), timeoutS);
      removed.push(...pod.replicas.map((r) => r.container.name));
    }
    if (pod.sandbox) {
      await stopAndRemove(ctx, [pod.sandbox.id], timeoutS);
      removed.push(pod.sandbox.name);
    }
    const records = pod.records.filter((r) => r.labels[LABEL.role] === 'state');
    await Promise.all(records.map((r) => ctx.runtime.removeContainer(r.id)));
    removed.push(...records.map((r) => r.name));
    // A NAT helper left by an interrupted command, then a DNAT pod's network once nothing is attached
    // to it (its rules went with the sandbox's namespace).
    const helpers = await ctx.runtime.listContainers({ [LABEL.pod]: name, [LABEL.role]: 'nat' });
    await Promise.all(helpers.map((h) => ctx.runtime.removeContainer(h.id)));
    const networks = await removePodNetworks(ctx.runtime, name);
    return { name, removed, networks, seconds: (Date.now() - started) / 1000 };
  });
}
