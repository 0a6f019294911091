// What runs now, read from the engine's labels: the only state there is.
import type { ContainerSummary, Runtime } from '../runtime/runtime.ts';
import { DEFAULT_SANDBOX_IMAGE } from '../package-info.ts';
import { ExitCode, PodError } from './errors.ts';
import { LABEL, readStoredSpec, replicaNumber, type StoredSpec } from './names.ts';

export interface ObservedReplica {
  n: number;
  container: ContainerSummary;
}

export interface ObservedPod {
  name: string;
  sandbox?: ContainerSummary;
  /** The newest state record's spec, else the sandbox's (the spec the pod was created with). */
  spec?: StoredSpec;
  /** Replicas asked for: the newest state record's count, else the replicas that exist. */
  desired: number;
  /** Sorted by replica number. */
  replicas: ObservedReplica[];
  /** State records and the lock: never-started containers that belong to the pod. */
  records: ContainerSummary[];
}

interface StateLabels {
  generation: number;
  spec: StoredSpec;
  replicas: number;
}

function stateOf(c: ContainerSummary): StateLabels | undefined {
  const spec = readStoredSpec(c.labels);
  const generation = Number(c.labels[LABEL.generation]);
  const replicas = Number(c.labels[LABEL.replicas]);
  return spec && Number.isInteger(generation) && Number.isInteger(replicas) ? { generation, spec, replicas } : undefined;
}

function group(name: string, containers: ContainerSummary[]): ObservedPod {
  const pod: ObservedPod = { name, desired: 0, replicas: [], records: [] };
  let newest: StateLabels | undefined;
  for (const c of containers) {
    const role = c.labels[LABEL.role];
    if (role === 'sandbox') {
      pod.sandbox = c;
    } else if (role === 'replica') {
      const n = replicaNumber(c.labels);
      if (n !== undefined) pod.replicas.push({ n, container: c });
    } else if (role === 'state' || role === 'lock') {
      pod.records.push(c);
      const state = role === 'state' ? stateOf(c) : undefined;
      if (state && (!newest || state.generation > newest.generation)) newest = state;
    }
  }
  pod.replicas.sort((a, b) => a.n - b.n);
  const initial = pod.sandbox && readStoredSpec(pod.sandbox.labels);
  const spec = newest?.spec ?? initial;
  if (spec) pod.spec = spec;
  pod.desired = newest?.replicas ?? pod.replicas.length;
  return pod;
}

/** A pod exists while anything but a lock of it does (a lock alone is a create in progress). */
const exists = (pod: ObservedPod): boolean => Boolean(pod.sandbox) || pod.replicas.length > 0 || pod.records.some((r) => r.labels[LABEL.role] === 'state');

export async function observePod(runtime: Runtime, name: string): Promise<ObservedPod | undefined> {
  const pod = group(name, await runtime.listContainers({ [LABEL.pod]: name }));
  return exists(pod) ? pod : undefined;
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
  return [...byPod.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, list]) => group(name, list))
    .filter(exists);
}

/** The image for the pod's never-started records (lock, state): one that is surely local. */
export const markerImage = (pod: ObservedPod): string => pod.sandbox?.image ?? DEFAULT_SANDBOX_IMAGE;
