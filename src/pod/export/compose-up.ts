// The pod as `reuseport-pod up` reads a service: one service with its ports and a replica count,
// in the Compose keys src/compose/service-options.ts maps back to the same spec. The exported file
// keeps it in an `x-reuseport-pod` field of the service that heads the pod (Compose keeps
// service-level x- fields and ignores them; docker-compose 1.x drops top-level ones), so the one
// file runs under plain Compose as a hand-made pod and under `up` as the pod it came from.
import type { StoredSpec } from '../model/names.ts';
import type { ReplicaOptions } from '../model/options.ts';
import { PROJECT_LABEL, projectOf, UP_FIELD } from '../model/project.ts';
import { formatPort } from '../model/spec.ts';
import { composeHealthcheck } from './compose-options.ts';
import { escapeDollars, escapeValues } from './shared.ts';

export { UP_FIELD };

/** What the field holds: the pod it belongs to, and on the head, the service `up` makes it from. */
export interface UpField {
  pod: string;
  service?: string;
  definition?: Record<string, unknown>;
  /** Why `up` cannot take this pod back, when it cannot. */
  refused?: string;
}

/** `<project>-<service>` for a pod `up` made; a pod made by `create` comes back as `<project>-<its name>`. */
export function upServiceName(name: string, spec: StoredSpec): string {
  const project = projectOf(spec);
  return project && name.startsWith(`${project}-`) ? name.slice(project.length + 1) : name;
}

/** Why a pod's options have no Compose form `up` maps back to the same spec; undefined when they have. */
function notExpressible(name: string, spec: StoredSpec): string | undefined {
  if ((spec.mode ?? 'reuseport') !== 'reuseport') return `the pod runs in --mode ${spec.mode}, and up makes pods of the default mode only`;
  const aliases = (spec.options?.networkAliases ?? []).filter((a) => a !== upServiceName(name, spec));
  if (aliases.length > 0) return `--network-alias ${aliases.join(', ')}: up names a pod on its networks by its service's name only`;
  const mountWithMode = spec.options?.mounts?.find((m) => m.tmpfsMode !== undefined);
  if (mountWithMode) return `--mount ${mountWithMode.target} sets a tmpfs mode, which up's mounts do not take`;
  return undefined;
}

function networksOf(o: ReplicaOptions, project: string | undefined): string[] | undefined {
  const networks = (o.networks ?? []).map((n) => (project && n === `${project}_default` ? 'default' : n));
  // A service that names none is on the project's default network, as in Compose.
  return networks.length === 0 || (networks.length === 1 && networks[0] === 'default') ? undefined : networks;
}

function optionKeys(o: ReplicaOptions, project: string | undefined): Record<string, unknown> {
  // The project label and the service's own name as its alias: up sets both again.
  const labels = Object.fromEntries(Object.entries(o.labels ?? {}).filter(([k]) => k !== PROJECT_LABEL));
  const networks = networksOf(o, project);
  const volumes = [
    ...(o.volumes ?? []),
    ...(o.mounts ?? []).map((m) => ({
      type: m.type,
      ...(m.source !== undefined ? { source: m.source } : {}),
      target: m.target,
      ...(m.readOnly ? { read_only: true } : {}),
      ...(m.tmpfsSizeBytes !== undefined ? { tmpfs: { size: m.tmpfsSizeBytes } } : {}),
    })),
  ];
  return {
    ...(networks ? { networks } : {}),
    ...(volumes.length > 0 ? { volumes } : {}),
    ...(o.tmpfs ? { tmpfs: Object.entries(o.tmpfs).map(([dst, opts]) => (opts ? `${dst}:${opts}` : dst)) } : {}),
    ...(o.user !== undefined ? { user: o.user } : {}),
    ...(o.workdir !== undefined ? { working_dir: o.workdir } : {}),
    // Lists: Compose would split a string as a shell does, and up takes the entrypoint's first word.
    ...(o.entrypoint !== undefined ? { entrypoint: [o.entrypoint] } : {}),
    ...(o.command !== undefined ? { command: o.command } : {}),
    ...(o.memoryBytes !== undefined ? { mem_limit: `${o.memoryBytes}b` } : {}),
    ...(o.nanoCpus !== undefined ? { cpus: o.nanoCpus / 1e9 } : {}),
    ...(o.pidsLimit !== undefined ? { pids_limit: o.pidsLimit } : {}),
    ...(o.readOnly ? { read_only: true } : {}),
    ...(o.capAdd ? { cap_add: o.capAdd } : {}),
    ...(o.capDrop ? { cap_drop: o.capDrop } : {}),
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
    ...(o.addHosts ? { extra_hosts: o.addHosts } : {}),
    ...(o.dns ? { dns: o.dns } : {}),
    ...(o.health ? { healthcheck: composeHealthcheck(o.health) } : {}),
    ...(o.stopSignal !== undefined ? { stop_signal: o.stopSignal } : {}),
  };
}

/** The head's field: the pod as one service, or why up cannot take it back. */
export function upField(name: string, spec: StoredSpec, replicas: number): UpField {
  const refused = notExpressible(name, spec);
  if (refused) return { pod: name, refused };
  const project = projectOf(spec);
  const definition = {
    image: spec.image,
    ports: spec.ports.map(formatPort),
    deploy: { replicas },
    environment: Object.fromEntries(Object.entries(spec.env).map(([k, v]) => [k, escapeDollars(v)])),
    stop_grace_period: `${spec.stopTimeout}s`,
    ...escapeValues(optionKeys(spec.options ?? {}, project)),
  };
  return { pod: name, service: upServiceName(name, spec), definition };
}
