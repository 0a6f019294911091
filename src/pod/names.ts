// Names and labels: the engine's labels are the only state the tool keeps, so everything that
// reads or writes them goes through here (the way Compose uses com.docker.compose.*).
import type { PodSpec } from './spec.ts';

export const LABEL = {
  pod: 'io.reuseport-pod.pod',
  role: 'io.reuseport-pod.role',
  replica: 'io.reuseport-pod.replica',
  spec: 'io.reuseport-pod.spec',
  version: 'io.reuseport-pod.version',
} as const;

export type Role = 'sandbox' | 'replica';

export const sandboxName = (pod: string): string => `${pod}-sandbox`;
export const replicaName = (pod: string, n: number): string => `${pod}-${n}`;

export function sandboxLabels(spec: PodSpec, version: string): Record<string, string> {
  return {
    [LABEL.pod]: spec.name,
    [LABEL.role]: 'sandbox',
    [LABEL.version]: version,
    [LABEL.spec]: JSON.stringify(storedSpec(spec)),
  };
}

export function replicaLabels(pod: string, n: number, version: string): Record<string, string> {
  return { [LABEL.pod]: pod, [LABEL.role]: 'replica', [LABEL.replica]: String(n), [LABEL.version]: version };
}

/** The part of the spec that `scale` needs to start more replicas like the first ones. */
export type StoredSpec = Omit<PodSpec, 'name' | 'replicas'>;

function storedSpec(spec: PodSpec): StoredSpec {
  return { image: spec.image, ports: spec.ports, env: spec.env, stopTimeout: spec.stopTimeout };
}

export function readStoredSpec(labels: Record<string, string>): StoredSpec | undefined {
  const raw = labels[LABEL.spec];
  if (raw === undefined) return undefined;
  try {
    const parsed = JSON.parse(raw) as StoredSpec;
    if (typeof parsed.image !== 'string' || !Array.isArray(parsed.ports)) return undefined;
    return { image: parsed.image, ports: parsed.ports, env: parsed.env ?? {}, stopTimeout: parsed.stopTimeout ?? 10 };
  } catch {
    return undefined;
  }
}

export function replicaNumber(labels: Record<string, string>): number | undefined {
  const n = Number(labels[LABEL.replica]);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}
