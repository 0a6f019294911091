// Names and labels: the engine's labels are the only state the tool keeps, so everything that
// reads or writes them goes through here (the way Compose uses com.docker.compose.*).
import { createHash } from 'node:crypto';
import { isPodMode, type PodSpec } from './spec.ts';

export const LABEL = {
  pod: 'io.reuseport-pod.pod',
  role: 'io.reuseport-pod.role',
  replica: 'io.reuseport-pod.replica',
  spec: 'io.reuseport-pod.spec',
  /** On replicas: which spec (image and env) they run, so that rollout knows what to replace. */
  specHash: 'io.reuseport-pod.spec-hash',
  /** On the state record: the pod's desired replica count and the record's generation. */
  replicas: 'io.reuseport-pod.replicas',
  /** On the state record a rollout writes: the spec it replaces, which a failed rollout goes back to. */
  previousSpec: 'io.reuseport-pod.previous-spec',
  generation: 'io.reuseport-pod.generation',
  /** On the lock: who holds it (host:pid) and since when. */
  holder: 'io.reuseport-pod.holder',
  since: 'io.reuseport-pod.since',
  version: 'io.reuseport-pod.version',
} as const;

/**
 * sandbox: owns the network namespace; replica: a server; state: the pod's desired spec and count
 * (labels cannot change, so each change is a new never-started container); lock: one writer at a time;
 * nat: the short-lived helper that writes a DNAT pod's rules; network: a DNAT pod's own network.
 */
export type Role = 'sandbox' | 'replica' | 'state' | 'lock' | 'nat' | 'network';

// Every object of pod P is named P + one suffix: `-<n>` (a replica: the only names that end in a
// dash and a number), `-sandbox`, `-lock`, `-net`, `-state-g<generation>`, `-nat-<6 hex>`. Two pods'
// objects could share a name only if one pod's name were the other's plus the start of a suffix,
// and the rest of that suffix were itself a suffix beginning with a dash. Only `-state-g<n>` and
// `-nat-<hex>` have a second dash, and what follows it (`-g<n>`, `-<6 hex>`) is no suffix (a
// replica number has at most 3 digits). So no pod name can collide with another pod's objects,
// whatever dashes it has (test/pod-names.ts checks it). Releases up to 0.1.0 named state records
// `P-state-<n>`, which is replica <n> of a pod called `P-state`: those are still read (by their
// labels), never written, and `repair` renames them.
export const sandboxName = (pod: string): string => `${pod}-sandbox`;
export const replicaName = (pod: string, n: number): string => `${pod}-${n}`;
/** The inverse of replicaName. */
export const podOfReplica = (name: string): string => name.replace(/-\d+$/, '');
export const stateName = (pod: string, generation: number): string => `${pod}-state-g${generation}`;
/** A state record named the way releases up to 0.1.0 did, which a pod called `<pod>-state` collides with. */
export function isLegacyStateName(pod: string, name: string): boolean {
  const prefix = `${pod}-state-`;
  const bare = name.replace(/^\//, '');
  return bare.startsWith(prefix) && /^\d+$/.test(bare.slice(prefix.length));
}
export const lockName = (pod: string): string => `${pod}-lock`;
/** A DNAT pod's own network (create --mode dnat). */
export const networkName = (pod: string): string => `${pod}-net`;
/** A DNAT pod's short-lived rule writer. */
export const natHelperName = (pod: string, tag: string): string => `${pod}-nat-${tag}`;

export function sandboxLabels(spec: PodSpec, version: string): Record<string, string> {
  return {
    [LABEL.pod]: spec.name,
    [LABEL.role]: 'sandbox',
    [LABEL.version]: version,
    [LABEL.spec]: JSON.stringify(storedSpec(spec)),
  };
}

export function replicaLabels(pod: string, n: number, spec: StoredSpec, version: string): Record<string, string> {
  return { [LABEL.pod]: pod, [LABEL.role]: 'replica', [LABEL.replica]: String(n), [LABEL.specHash]: specHash(spec), [LABEL.version]: version };
}

/** Key order does not make two option sets differ. */
const canonical = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(canonical)
    : value !== null && typeof value === 'object'
      ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]))
      : value;

/**
 * What makes two replicas interchangeable: the same image, environment and options. A pod without
 * options hashes as pods did before options existed, so their replicas stay up to date.
 */
export function specHash(spec: Pick<StoredSpec, 'image' | 'env' | 'options'>): string {
  const env = Object.keys(spec.env).sort().map((k) => [k, spec.env[k]]);
  const parts: unknown[] = [spec.image, env];
  if (spec.options) parts.push(canonical(spec.options));
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}

/** The part of the spec that `scale` needs to start more replicas like the first ones. */
export type StoredSpec = Omit<PodSpec, 'name' | 'replicas'>;

export function storedSpec(spec: PodSpec): StoredSpec {
  const stored: StoredSpec = { image: spec.image, ports: spec.ports, env: spec.env, stopTimeout: spec.stopTimeout };
  // Only the non-default mode is written, so reuseport pods' labels read as they always did.
  if (spec.mode !== undefined && spec.mode !== 'reuseport') stored.mode = spec.mode;
  if (spec.options) stored.options = spec.options;
  return stored;
}

export function readStoredSpec(labels: Record<string, string>, label: string = LABEL.spec): StoredSpec | undefined {
  const raw = labels[label];
  if (raw === undefined) return undefined;
  try {
    const parsed = JSON.parse(raw) as StoredSpec;
    if (typeof parsed.image !== 'string' || !Array.isArray(parsed.ports)) return undefined;
    const spec: StoredSpec = { image: parsed.image, ports: parsed.ports, env: parsed.env ?? {}, stopTimeout: parsed.stopTimeout ?? 10 };
    if (isPodMode(parsed.mode) && parsed.mode !== 'reuseport') spec.mode = parsed.mode;
    if (parsed.options && typeof parsed.options === 'object' && !Array.isArray(parsed.options)) spec.options = parsed.options;
    return spec;
  } catch {
    return undefined;
  }
}

export function replicaNumber(labels: Record<string, string>): number | undefined {
  const n = Number(labels[LABEL.replica]);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}
