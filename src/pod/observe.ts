// What runs now, read from the engine's labels: the only state there is.
import type { ContainerSummary, Runtime } from '../runtime/runtime.ts';
import { ExitCode, PodError } from './errors.ts';
import { LABEL, readStoredSpec, replicaNumber, type StoredSpec } from './names.ts';

export interface ObservedReplica {
  n: number;
  container: ContainerSummary;
}

export interface ObservedPod {
  name: string;
  sandbox?: ContainerSummary;
  spec?: StoredSpec;
  /** Sorted by replica number. */
  replicas: ObservedReplica[];
}

function group(name: string, containers: ContainerSummary[]): ObservedPod {
  const pod: ObservedPod = { name, replicas: [] };
  for (const c of containers) {
    if (c.labels[LABEL.role] === 'sandbox') {
      pod.sandbox = c;
      const spec = readStoredSpec(c.labels);
      if (spec) pod.spec = spec;
    } else if (c.labels[LABEL.role] === 'replica') {
      const n = replicaNumber(c.labels);
      if (n !== undefined) pod.replicas.push({ n, container: c });
    }
  }
  pod.replicas.sort((a, b) => a.n - b.n);
  return pod;
}

export async function observePod(runtime: Runtime, name: string): Promise<ObservedPod | undefined> {
  const containers = await runtime.listContainers({ [LABEL.pod]: name });
  return containers.length === 0 ? undefined : group(name, containers);
}

export async function requirePod(runtime: Runtime, name: string): Promise<ObservedPod> {
  const pod = await observePod(runtime, name);
  if (!pod) throw new PodError(`no pod named "${name}"; \`reuseport-pod ls\` lists the pods`, ExitCode.notFound);
  return pod;
}

export async function observeAllPods(runtime: Runtime): Promise<ObservedPod[]> {
  const containers = await runtime.listContainers({ [LABEL.pod]: '' });
  const byPod = new Map<string, ContainerSummary[]>();
  for (const c of containers) {
    const name = c.labels[LABEL.pod] ?? '';
    byPod.set(name, [...(byPod.get(name) ?? []), c]);
  }
  return [...byPod.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, list]) => group(name, list));
}
