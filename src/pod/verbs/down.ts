// down: a project's pods go as `rm` removes a pod (replicas drain first), then, as `docker compose
// down` does, the project's networks the pods were on and, only when asked, the project's named
// volumes: every volume that carries the project's labels (`resourceLabels`), found by label and
// not through the pods, so that `down --volumes` after a plain `down` still finds them. An external
// network or volume, which the project only names, has no such label and stays. A network or volume
// that something else still uses stays too, and the result says which and why.
import type { PodContext } from '../context.ts';
import { statusOf } from '../../runtime/docker-errors.ts';
import { PROJECT_LABEL, projectOf } from '../model/project.ts';
import { observeAllPods, type ObservedPod } from '../state/observe.ts';
import { removePod } from './remove.ts';

export interface DownRequest {
  project: string;
  /** Only these pods (services named on the command line): networks and volumes then stay. */
  pods?: string[];
  volumes: boolean;
  timeoutS?: number;
  /** The labels the project's own networks and volumes carry (Compose's com.docker.compose.project). */
  resourceLabels: Record<string, string>;
}

export interface Kept {
  name: string;
  reason: string;
}

export interface DownResult {
  project: string;
  pods: string[];
  containers: number;
  networks: string[];
  volumes: string[];
  kept: Kept[];
  seconds: number;
}

/** An incomplete pod may have no spec left; its replicas carry the project label too. */
const projectOfPod = (pod: ObservedPod): string | undefined => projectOf(pod.spec) ?? pod.replicas.map((r) => r.container.labels[PROJECT_LABEL]).find(Boolean);

const cause = (err: unknown): unknown => (err as { cause?: unknown }).cause ?? err;

/** Docker refuses a network with endpoints (403) and a volume in use (409): those stay. */
const inUse = (err: unknown): boolean => [403, 409].includes(statusOf(cause(err)) ?? 0) || /active endpoints|in use/i.test(String((err as Error).message));

async function removeAll(names: string[], remove: (name: string) => Promise<void>, kind: string, kept: Kept[]): Promise<string[]> {
  const removed: string[] = [];
  for (const name of names) {
    try {
      await remove(name);
      removed.push(name);
    } catch (err) {
      if (!inUse(err)) throw err;
      kept.push({ name, reason: `${kind} ${name} stays: other containers still use it` });
    }
  }
  return removed;
}

export async function downProject(ctx: PodContext, request: DownRequest): Promise<DownResult> {
  const started = Date.now();
  const pods = (await observeAllPods(ctx.runtime)).filter((p) => projectOfPod(p) === request.project && (!request.pods || request.pods.includes(p.name)));
  const removed = await Promise.all(pods.map((p) => removePod(ctx, p.name, request.timeoutS === undefined ? {} : { timeoutS: request.timeoutS })));
  const kept: Kept[] = [];
  const result: DownResult = { project: request.project, pods: pods.map((p) => p.name), containers: removed.reduce((n, r) => n + r.removed.length, 0), networks: [], volumes: [], kept, seconds: 0 };
  if (!request.pods) {
    const labelled = new Set(((await ctx.runtime.listNetworks?.(request.resourceLabels)) ?? []).map((n) => n.name));
    const networks = [...new Set(pods.flatMap((p) => p.spec?.options?.networks ?? []))].filter((n) => labelled.has(n));
    result.networks = await removeAll(networks, (n) => ctx.runtime.removeNetwork?.(n) ?? Promise.resolve(), 'network', kept);
    if (request.volumes) {
      const volumes = ((await ctx.runtime.listVolumes?.(request.resourceLabels)) ?? []).map((v) => v.name).sort();
      result.volumes = await removeAll(volumes, (v) => ctx.runtime.removeVolume?.(v) ?? Promise.resolve(), 'volume', kept);
    }
  }
  result.seconds = (Date.now() - started) / 1000;
  return result;
}
