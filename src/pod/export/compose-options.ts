// A pod's replica options as Compose keys: what every replica service gets, what goes to the
// service that owns the network namespace (networks, extra_hosts, dns: the sandbox when replicas
// share its namespace, since Docker refuses them on a network_mode: service: member; else each
// replica), the top-level volumes and networks, and a comment for what Compose cannot say.
// One handler per option, typed over every key of ReplicaOptions, as for Kubernetes.
import type { HealthConfig } from '../../runtime/runtime.ts';
import type { ReplicaOptions } from '../model/options.ts';
import { dockerBytes, escapeValues, flagOf, mountsOf, type ExportMount, type Note, type Shape } from './shared.ts';

type Obj = Record<string, unknown>;

export interface ComposeOptions {
  /** Keys of every replica service. */
  service: Obj;
  /** Keys of the service owning the namespace; `networks` is the list of external networks it joins. */
  namespace: { networks: string[]; aliases: string[]; keys: Obj };
  /** Top-level `volumes:` and `networks:` entries. */
  volumes: Record<string, Obj>;
  networks: Record<string, Obj>;
  serviceNotes: Note[];
  namespaceNotes: Note[];
  /** Comments above top-level keys (volumes, networks). */
  topNotes: Note[];
}

type Handlers = { [K in keyof Required<ReplicaOptions>]: (value: NonNullable<ReplicaOptions[K]>, b: ComposeOptions, shape: Shape) => void };

/** Compose durations: whole seconds where they are, else milliseconds (both `docker-compose` and `docker compose` read them). */
export const composeDuration = (ms: number): string => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

const HANDLERS: Handlers = {
  networks: (networks, b, shape) => joinNetworks(networks, b, shape),
  networkAliases: (aliases, b, shape) => {
    if (shape === 'host') b.serviceNotes.push({ key: 'network_mode', text: `${flagOf('networkAliases')} ${aliases.join(', ')}: not expressible, a service on the host's network joins no network to be named on.` });
    else b.namespace.aliases = aliases;
  },
  // Volumes, mounts and tmpfs: together, see finishMounts.
  volumes: () => undefined,
  mounts: () => undefined,
  tmpfs: () => undefined,
  user: (user, b) => {
    b.service['user'] = user;
  },
  workdir: (dir, b) => {
    b.service['working_dir'] = dir;
  },
  // A list: Compose would split a string entrypoint as a shell does, docker takes one word. [''] is
  // what docker's CLI sends for --entrypoint '' (the image's is cleared); an empty list would keep it.
  entrypoint: (entrypoint, b) => {
    b.service['entrypoint'] = [entrypoint];
  },
  // An empty command is the image's CMD, which a service without `command` runs.
  command: (command, b) => {
    if (command.length > 0) b.service['command'] = command;
  },
  // mem_limit, cpus and pids_limit rather than deploy.resources: docker-compose 1.x reads deploy only with --compatibility.
  memoryBytes: (bytes, b) => {
    b.service['mem_limit'] = dockerBytes(bytes);
  },
  nanoCpus: (nano, b) => {
    b.service['cpus'] = nano / 1e9;
  },
  pidsLimit: (limit, b) => {
    b.service['pids_limit'] = limit;
  },
  readOnly: (readOnly, b) => {
    if (readOnly) b.service['read_only'] = true;
  },
  capAdd: (caps, b) => {
    b.service['cap_add'] = caps;
  },
  capDrop: (caps, b) => {
    b.service['cap_drop'] = caps;
  },
  labels: (labels, b) => {
    b.service['labels'] = labels;
  },
  addHosts: (hosts, b) => {
    b.namespace.keys['extra_hosts'] = hosts;
  },
  dns: (servers, b) => {
    b.namespace.keys['dns'] = servers;
  },
  health: (health, b) => {
    b.service['healthcheck'] = composeHealthcheck(health);
  },
  stopSignal: (signal, b) => {
    b.service['stop_signal'] = signal;
  },
};

export function composeHealthcheck(h: HealthConfig): Obj {
  if (h.test?.[0] === 'NONE') return { disable: true };
  // Without a test, Docker keeps the image's HEALTHCHECK command with these timings, as here.
  return {
    ...(h.test ? { test: h.test } : {}),
    ...(h.intervalMs !== undefined ? { interval: composeDuration(h.intervalMs) } : {}),
    ...(h.timeoutMs !== undefined ? { timeout: composeDuration(h.timeoutMs) } : {}),
    ...(h.retries !== undefined ? { retries: h.retries } : {}),
    ...(h.startPeriodMs !== undefined ? { start_period: composeDuration(h.startPeriodMs) } : {}),
  };
}

function joinNetworks(networks: string[], b: ComposeOptions, shape: Shape): void {
  if (shape === 'host') {
    b.serviceNotes.push({ key: 'network_mode', text: `${flagOf('networks')} ${networks.join(', ')}: not expressible, a service on the host's network joins no other.` });
    return;
  }
  b.namespace.networks = networks;
  for (const n of networks) b.networks[n] = { external: true };
  b.topNotes.push({
    key: 'networks',
    text: `${flagOf('networks')}: the networks the pod joined, used as they are (external: up fails where one is missing;\ndocker network create NAME), so the replicas reach the containers on them by name, as they did.`,
  });
}

// Of docker's -v modes, Compose's long syntax has these as fields; SELinux labels (z, Z) it has not in docker-compose 1.x.
const PROPAGATION = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);

/** A bind or volume in the long syntax, which names each part; tmpfs mounts go to `tmpfs:`. */
function longVolume(m: ExportMount): Obj {
  const propagation = m.extra.find((e) => PROPAGATION.has(e));
  return {
    type: m.kind === 'bind' ? 'bind' : 'volume',
    ...(m.source !== undefined ? { source: m.source } : {}),
    target: m.target,
    ...(m.readOnly ? { read_only: true } : {}),
    ...(m.kind === 'bind' && propagation ? { bind: { propagation } } : {}),
    ...(m.kind !== 'bind' && m.extra.includes('nocopy') ? { volume: { nocopy: true } } : {}),
  };
}

/** `DST[:OPTIONS]`, as --tmpfs and HostConfig.Tmpfs take it (a --mount tmpfs's size and mode included). */
function tmpfsLine(m: ExportMount): string {
  if (m.options !== undefined) return m.options ? `${m.target}:${m.options}` : m.target;
  const opts = [...(m.readOnly ? ['ro'] : []), ...(m.sizeBytes !== undefined ? [`size=${m.sizeBytes}`] : []), ...m.extra];
  return opts.length > 0 ? `${m.target}:${opts.join(',')}` : m.target;
}

function finishMounts(o: ReplicaOptions, b: ComposeOptions): void {
  const mounts = mountsOf(o);
  const volumes = mounts.filter((m) => m.kind !== 'tmpfs');
  const tmpfs = mounts.filter((m) => m.kind === 'tmpfs');
  if (volumes.length > 0) b.service['volumes'] = volumes.map(longVolume);
  if (tmpfs.length > 0) b.service['tmpfs'] = tmpfs.map(tmpfsLine);
  const named = [...new Set(volumes.filter((m) => m.kind === 'volume').map((m) => m.source ?? ''))];
  for (const name of named) b.volumes[name] = { external: true };
  if (named.length > 0) {
    b.topNotes.push({
      key: 'volumes',
      text: [
        `The pod's named volumes, by their own names (external): Compose uses the very volumes, with what`,
        `the replicas wrote, and never deletes them (down -v leaves them). Where one is missing, up says so:`,
        `docker volume create NAME. Without external, Compose would make ${named.map((n) => `PROJECT_${n}`).join(', ')}, new and empty.`,
      ].join('\n'),
    });
  }
  const lost = volumes.flatMap((m) => m.extra.filter((e) => e === 'z' || e === 'Z').map((e) => `${m.flag} ${m.source ?? ''}:${m.target}:${e}`));
  if (lost.length > 0) b.serviceNotes.push({ key: 'volumes', text: `Not expressible in docker-compose 1.x: the SELinux relabelling of ${lost.join('; ')}.` });
}

export function composeOptions(options: ReplicaOptions | undefined, shape: Shape): ComposeOptions {
  const b: ComposeOptions = { service: {}, namespace: { networks: [], aliases: [], keys: {} }, volumes: {}, networks: {}, serviceNotes: [], namespaceNotes: [], topNotes: [] };
  if (!options) return b;
  for (const key of Object.keys(options) as Array<keyof ReplicaOptions>) {
    const value = options[key];
    const handler = HANDLERS[key] as ((v: unknown, b: ComposeOptions, shape: Shape) => void) | undefined;
    if (value === undefined) continue;
    // A spec written by a newer version may hold an option this one does not know: said, not dropped.
    if (!handler) b.serviceNotes.push({ key: 'image', text: `Option "${key}" of the pod is not known to this version of reuseport-pod: not exported.` });
    else handler(value, b, shape);
  }
  finishMounts(options, b);
  // create refuses an alias without a network; a spec from elsewhere may have one all the same.
  if (b.namespace.aliases.length > 0 && b.namespace.networks.length === 0) {
    b.serviceNotes.push({ key: 'image', text: `${flagOf('networkAliases')} ${b.namespace.aliases.join(', ')}: the pod joins no network, so there is none to be named on.` });
    b.namespace.aliases = [];
  }
  if (Object.keys(b.namespace.keys).length > 0 && shape === 'pod') {
    b.namespaceNotes.push({
      key: Object.keys(b.namespace.keys)[0] ?? '',
      text: `${[options.addHosts ? flagOf('addHosts') : '', options.dns ? flagOf('dns') : ''].filter(Boolean).join(' and ')}: on the sandbox, whose /etc/hosts and resolv.conf the replicas share\n(Compose and Docker refuse them on a network_mode: service: member).`,
    });
  }
  // Compose interpolates $ in every value: the user's strings stay as the replicas got them.
  b.service = escapeValues(b.service);
  b.namespace.keys = escapeValues(b.namespace.keys);
  return b;
}
