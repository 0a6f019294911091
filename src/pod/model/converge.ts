// `up` as a plan, computed purely from what runs and what the file asks (the way Compose's
// reconcile does it): each pod is created, left alone, rolled out (image, environment or options
// changed: lossless), scaled (count changed), or refused with the reason, before anything is done.
import { OPTION_FLAGS, type ReplicaOptions } from './options.ts';
import { specHash, storedSpec, type StoredSpec } from './names.ts';
import { projectOf } from './project.ts';
import { formatPort, type PodSpec } from './spec.ts';

/** What `up` needs to know about a pod that exists; absent: there is none. */
export interface SeenPod {
  spec?: StoredSpec;
  desired: number;
  /** Spec hash of each replica. */
  replicaHashes: string[];
  /** The sandbox runs and a spec is recorded: the pod can be rolled out and scaled. */
  serving: boolean;
}

export type PodStep =
  | { kind: 'create'; spec: PodSpec }
  | { kind: 'up-to-date'; name: string }
  | {
      kind: 'update';
      name: string;
      /** Present when the replicas must be replaced: the whole target (keys the file dropped set undefined). */
      rollout?: { image: string; env: Record<string, string>; options: ReplicaOptions; stopTimeout: number };
      scale?: { from: number; to: number };
      /** In words, for the output: what differs. */
      causes: string[];
    }
  | { kind: 'refused'; name: string; reason: string };

/** Options a rollout cannot change while the pod serves: the sandbox owns the network namespace. */
const NAMESPACE_KEYS = ['networks', 'networkAliases', 'addHosts', 'dns'] as const;

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** Every option either side has: the file's value, or undefined where the file no longer sets it (a rollout then drops it). */
function replacingOptions(current: ReplicaOptions | undefined, wanted: ReplicaOptions | undefined): ReplicaOptions {
  const keys = new Set([...Object.keys(current ?? {}), ...Object.keys(wanted ?? {})]) as Set<keyof ReplicaOptions>;
  return Object.fromEntries([...keys].map((k) => [k, wanted?.[k]])) as ReplicaOptions;
}

function changedOptions(current: ReplicaOptions | undefined, wanted: ReplicaOptions | undefined): string[] {
  const keys = new Set([...Object.keys(current ?? {}), ...Object.keys(wanted ?? {})]) as Set<keyof ReplicaOptions>;
  return [...keys].filter((k) => !same(current?.[k], wanted?.[k])).map((k) => OPTION_FLAGS[k] ?? k);
}

export function planPod(project: string, wanted: PodSpec, seen: SeenPod | undefined): PodStep {
  const name = wanted.name;
  if (!seen) return { kind: 'create', spec: wanted };
  const recreate = `\`reuseport-pod down -p ${project}\` and \`up\` again make it anew (not lossless)`;
  if (projectOf(seen.spec) !== project) {
    const owner = projectOf(seen.spec);
    return { kind: 'refused', name, reason: `pod ${name} exists and is not project ${project}'s (${owner ? `it is project ${owner}'s` : 'it was made by create'}); remove it with \`reuseport-pod rm ${name}\`, or give another project name with -p` };
  }
  if (!seen.serving || !seen.spec) return { kind: 'refused', name, reason: `pod ${name} is not serving (its sandbox is missing or stopped); \`reuseport-pod repair ${name}\` first` };
  const current = seen.spec;
  const target = storedSpec(wanted);
  if (!same(current.ports.map(formatPort), target.ports.map(formatPort))) {
    return { kind: 'refused', name, reason: `pod ${name}: the ports changed (${current.ports.map(formatPort).join(', ')} -> ${target.ports.map(formatPort).join(', ')}); the sandbox publishes them and an update keeps the sandbox; ${recreate}` };
  }
  const namespace = NAMESPACE_KEYS.filter((k) => !same(current.options?.[k], target.options?.[k]));
  if (namespace.length > 0) {
    return { kind: 'refused', name, reason: `pod ${name}: ${namespace.map((k) => OPTION_FLAGS[k]).join(', ')} changed; they belong to the sandbox's network namespace, which an update keeps; ${recreate}` };
  }
  if ((current.mode ?? 'reuseport') !== (target.mode ?? 'reuseport')) return { kind: 'refused', name, reason: `pod ${name} runs in --mode ${current.mode ?? 'reuseport'}; ${recreate}` };
  const hash = specHash(target);
  const causes: string[] = [];
  if (current.image !== target.image) causes.push(`image ${current.image} -> ${target.image}`);
  if (!same(Object.entries(current.env).sort(), Object.entries(target.env).sort())) causes.push('environment');
  causes.push(...changedOptions(current.options, target.options));
  if (current.stopTimeout !== target.stopTimeout) causes.push(`stop timeout ${current.stopTimeout} s -> ${target.stopTimeout} s`);
  const stale = seen.replicaHashes.filter((h) => h !== hash).length;
  if (causes.length === 0 && stale > 0) causes.push(`${stale} replica${stale === 1 ? '' : 's'} on another spec (an interrupted rollout)`);
  const step: PodStep = { kind: 'update', name, causes };
  if (causes.length > 0) step.rollout = { image: target.image, env: target.env, options: replacingOptions(current.options, target.options), stopTimeout: target.stopTimeout };
  if (seen.desired !== wanted.replicas || seen.replicaHashes.length !== wanted.replicas) {
    step.scale = { from: seen.replicaHashes.length, to: wanted.replicas };
    causes.push(`replicas ${seen.replicaHashes.length} -> ${wanted.replicas}`);
  }
  return causes.length === 0 ? { kind: 'up-to-date', name } : step;
}
