// What runs now, read from the engine's labels: the only state there is.
import type { ContainerSummary, Runtime } from '../../runtime/runtime.ts';
import { DEFAULT_SANDBOX_IMAGE } from '../../package-info.ts';
import { ExitCode, PodError } from '../../errors.ts';
import { lockIsStale } from './lock-stale.ts';
import { LABEL, readStoredSpec, replicaNumber, type StoredSpec } from '../model/names.ts';

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
  /** The spec before the last rollout, as that rollout recorded it. */
  previous?: StoredSpec;
  /** Sorted by replica number. */
  replicas: ObservedReplica[];
  /** State records and the lock: never-started containers that belong to the pod. */
  records: ContainerSummary[];
  /** True when a state record says what the pod should run (create writes one before anything else). */
  recorded: boolean;
  /** Anything else carrying the pod's label: NAT helpers an interrupted command left, replicas without a number. */
  others: ContainerSummary[];
  /** Networks carrying the pod's label (a DNAT pod's own). */
  networks: string[];
}

interface StateLabels {
  generation: number;
  spec: StoredSpec;
  replicas: number;
  previous?: StoredSpec;
}

function stateOf(c: ContainerSummary): StateLabels | undefined {
  const spec = readStoredSpec(c.labels);
  const generation = Number(c.labels[LABEL.generation]);
  const replicas = Number(c.labels[LABEL.replicas]);
  if (!spec || !Number.isInteger(generation) || !Number.isInteger(replicas)) return undefined;
  const previous = readStoredSpec(c.labels, LABEL.previousSpec);
  return previous ? { generation, spec, replicas, previous } : { generation, spec, replicas };
}

function group(name: string, containers: ContainerSummary[], networks: string[]): ObservedPod {
  const pod: ObservedPod = { name, desired: 0, replicas: [], records: [], recorded: false, others: [], networks };
  let newest: StateLabels | undefined;
  for (const c of containers) {
    const role = c.labels[LABEL.role];
    const n = role === 'replica' ? replicaNumber(c.labels) : undefined;
    if (role === 'sandbox' && !pod.sandbox) {
      pod.sandbox = c;
    } else if (n !== undefined) {
      pod.replicas.push({ n, container: c });
    } else if (role === 'state' || role === 'lock') {
      pod.records.push(c);
      const state = role === 'state' ? stateOf(c) : undefined;
      if (state && (!newest || state.generation > newest.generation)) newest = state;
    } else {
      pod.others.push(c);
    }
  }
  pod.replicas.sort((a, b) => a.n - b.n);
  pod.recorded = newest !== undefined;
  const initial = pod.sandbox && readStoredSpec(pod.sandbox.labels);
  const spec = newest?.spec ?? initial;
  if (spec) pod.spec = spec;
  if (newest?.previous) pod.previous = newest.previous;
  pod.desired = newest?.replicas ?? pod.replicas.length;
  return pod;
}

/**
 * A pod exists while anything carrying its label does, a lock alone included: an interrupted
 * command may leave just that (or a network), and `rm` must still reach it. Only a lock whose
 * holder is alive, alone, is a create in progress and not yet a pod.
 */
function exists(pod: ObservedPod): boolean {
  const lock = lockOf(pod);
  const rest = pod.records.length - (lock ? 1 : 0) + pod.replicas.length + pod.others.length + pod.networks.length + (pod.sandbox ? 1 : 0);
  return rest > 0 || (lock !== undefined && lockIsStale(lock));
}

export const lockOf = (pod: ObservedPod): ContainerSummary | undefined => pod.records.find((r) => r.labels[LABEL.role] === 'lock');

/**
 * Incomplete: nothing records what the pod should run (a create killed before its first record, an
 * rm killed after removing it), or a command on it was killed while holding its lock. ls and ps
 * say so; repair completes the second kind, rm removes either.
 */
export function isIncomplete(pod: ObservedPod): boolean {
  const lock = lockOf(pod);
  return !pod.recorded || (lock !== undefined && lockIsStale(lock));
}

async function podNetworks(runtime: Runtime, labels: Record<string, string>): Promise<Map<string, string[]>> {
  const byPod = new Map<string, string[]>();
  if (!runtime.listNetworks) return byPod;
  for (const n of await runtime.listNetworks(labels)) {
    const pod = n.labels[LABEL.pod] ?? '';
    byPod.set(pod, [...(byPod.get(pod) ?? []), n.name]);
  }
  return byPod;
}

export async function observePod(runtime: Runtime, name: string): Promise<ObservedPod | undefined> {
  const [containers, networks] = await Promise.all([runtime.listContainers({ [LABEL.pod]: name }), podNetworks(runtime, { [LABEL.pod]: name })]);
  const pod = group(name, containers, networks.get(name) ?? []);
  return exists(pod) ? pod : undefined;
}

export async function requirePod(runtime: Runtime, name: string): Promise<ObservedPod> {
  const pod = await observePod(runtime, name);
  if (!pod) throw new PodError(`no pod named "${name}"; \`reuseport-pod ls\` lists the pods`, ExitCode.notFound);
  return pod;
}

export async function observeAllPods(runtime: Runtime): Promise<ObservedPod[]> {
  const [containers, networks] = await Promise.all([runtime.listContainers({ [LABEL.pod]: '' }), podNetworks(runtime, { [LABEL.pod]: '' })]);
  const byPod = new Map<string, ContainerSummary[]>();
  for (const c of containers) {
    const name = c.labels[LABEL.pod] ?? '';
    byPod.set(name, [...(byPod.get(name) ?? []), c]);
  }
  for (const name of networks.keys()) if (!byPod.has(name)) byPod.set(name, []);
  return [...byPod.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, list]) => group(name, list, networks.get(name) ?? []))
    .filter(exists);
}

/** The image for the pod's never-started records (lock, state): one that is surely local. */
export const markerImage = (pod: ObservedPod): string => pod.sandbox?.image ?? DEFAULT_SANDBOX_IMAGE;
