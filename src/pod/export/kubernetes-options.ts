// A pod's replica options as Kubernetes fields: what goes on each container, what on the Pod (its
// volumes, /etc/hosts, resolvers, labels), and a comment for each option, or part of one, that
// Kubernetes cannot express. One handler per option, typed over every key of ReplicaOptions: a new
// option does not compile until it says what it becomes here.
import type { HealthConfig } from '../../runtime/runtime.ts';
import type { ReplicaOptions } from '../model/options.ts';
import { DOCKER_HEALTH_DEFAULTS, escapeDollars, flagOf, isId, mountsOf, userParts, type ExportMount, type Note } from './shared.ts';

type Obj = Record<string, unknown>;

export interface KubernetesOptions {
  /** Fields of every container (command, args, workingDir, resources, volumeMounts, readinessProbe). */
  container: Obj;
  /** Merged into every container's securityContext. */
  securityContext: Obj;
  /** Fields of the Pod spec (volumes, hostAliases, dnsPolicy, dnsConfig). */
  pod: Obj;
  /** The pod template's labels and annotations (Docker's container labels). */
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Comments above keys of the first container, of the Pod spec, of the pod template. */
  containerNotes: Note[];
  podNotes: Note[];
  templateNotes: Note[];
}

interface Builder extends KubernetesOptions {
  mounts: ExportMount[];
}

type Handlers = { [K in keyof Required<ReplicaOptions>]: (value: NonNullable<ReplicaOptions[K]>, b: Builder) => void };

const secondsOf = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));

/** Binary quantities where a unit divides the bytes exactly (Kubernetes reads Mi as 2^20), else plain bytes. */
export function memoryQuantity(bytes: number): string {
  for (const [unit, size] of [['Gi', 1024 ** 3], ['Mi', 1024 ** 2], ['Ki', 1024]] as const) if (bytes % size === 0) return `${bytes / size}${unit}`;
  return String(bytes);
}

const HANDLERS: Handlers = {
  networks: (networks, b) =>
    b.podNotes.push({
      key: 'containers',
      text: [
        `${flagOf('networks')} ${networks.join(', ')}: not expressible. Kubernetes has one flat network: every Pod reaches`,
        `every Service by name, so there is nothing to join. Run what the replicas reached on ${networks.length === 1 ? 'that network' : 'those networks'}`,
        `(a database, say) in the cluster behind a Service named like its container, and the same`,
        `names resolve here; a NetworkPolicy can fence them in as the Docker network did.`,
      ].join('\n'),
    }),
  networkAliases: (aliases, b) =>
    b.podNotes.push({
      key: 'containers',
      text: `${flagOf('networkAliases')} ${aliases.join(', ')}: not expressible. In Kubernetes a Service's name is what other Pods look up:\nname the Service ${aliases[0] ?? ''} (or add one per name) to keep what they reached.`,
    }),
  // Volumes, mounts and tmpfs become one list of volumes: see finishMounts.
  volumes: () => undefined,
  mounts: () => undefined,
  tmpfs: () => undefined,
  user: (user, b) => {
    const { user: uid, group } = userParts(user);
    if (isId(uid)) b.securityContext['runAsUser'] = Number(uid);
    if (isId(group)) b.securityContext['runAsGroup'] = Number(group);
    const names = [uid, group].filter((p): p is string => p !== undefined && !isId(p));
    if (names.length > 0) {
      b.containerNotes.push({
        key: 'securityContext',
        text: `${flagOf('user')} ${user}: ${names.map((n) => `"${n}"`).join(' and ')} not expressible: Kubernetes takes ids only (runAsUser, runAsGroup).\nFind them with docker run --rm --user ${user} --entrypoint id IMAGE and set them here.`,
      });
    }
  },
  workdir: (dir, b) => {
    b.container['workingDir'] = dir;
  },
  // entrypoint and command: together, see finishCommand.
  entrypoint: () => undefined,
  command: () => undefined,
  memoryBytes: (bytes, b) => {
    limitsOf(b)['memory'] = memoryQuantity(bytes);
  },
  nanoCpus: (nano, b) => {
    const milli = Math.round(nano / 1e6);
    limitsOf(b)['cpu'] = `${milli}m`;
    if (milli * 1e6 !== nano) b.containerNotes.push({ key: 'resources', text: `${flagOf('nanoCpus')} ${nano / 1e9}: rounded to ${milli}m, Kubernetes' finest CPU unit.` });
  },
  pidsLimit: (limit, b) =>
    b.containerNotes.push({
      key: 'securityContext',
      text: `${flagOf('pidsLimit')} ${limit}: not expressible. Kubernetes has no per-container process limit; the kubelet's\npodPidsLimit (KubeletConfiguration) caps each Pod on a node.`,
    }),
  readOnly: (readOnly, b) => {
    if (readOnly) b.securityContext['readOnlyRootFilesystem'] = true;
  },
  capAdd: (caps, b) => {
    capabilitiesOf(b)['add'] = caps;
    // The replicas ran with no-new-privileges, which Kubernetes refuses next to SYS_ADMIN.
    if (caps.includes('SYS_ADMIN')) {
      b.securityContext['allowPrivilegeEscalation'] = true;
      b.containerNotes.push({ key: 'securityContext', text: `${flagOf('capAdd')} SYS_ADMIN: Kubernetes refuses allowPrivilegeEscalation: false with it, so the
no-new-privileges the replicas had is not expressible here.` });
    }
  },
  capDrop: (caps, b) => {
    capabilitiesOf(b)['drop'] = caps;
  },
  labels: (labels, b) => podLabels(labels, b),
  addHosts: (hosts, b) => hostAliases(hosts, b),
  dns: (servers, b) => {
    // Kubernetes refuses more than 3 nameservers; the resolver reads no more than 3 either.
    const kept = servers.slice(0, 3);
    b.pod['dnsPolicy'] = 'None';
    b.pod['dnsConfig'] = { nameservers: kept };
    b.podNotes.push({
      key: 'dnsPolicy',
      text: [
        `${flagOf('dns')} ${servers.join(', ')}: the Pod's resolv.conf lists only ${kept.length === 1 ? 'this server' : 'these servers'}, as the replicas' did.`,
        `dnsPolicy None also drops the cluster's DNS: Service names no longer resolve in this Pod.`,
        `To keep them, remove dnsPolicy and dnsConfig (ClusterFirst) and point the cluster DNS's`,
        `upstream at ${kept.length === 1 ? 'this server' : 'these servers'}.${servers.length > 3 ? ` Only the first 3 are kept (the resolver's limit): ${servers.slice(3).join(', ')} dropped.` : ''}`,
      ].join('\n'),
    });
  },
  health: (health, b) => readinessProbe(health, b),
  // The kubelet stops a container with its image's STOPSIGNAL: the flag has no field to go to.
  stopSignal: (signal, b) =>
    b.containerNotes.push({ key: 'image', text: `${flagOf('stopSignal')} ${signal}: not expressible. Kubernetes stops a container with its image's STOPSIGNAL;\nbuild the image with STOPSIGNAL ${signal}.` }),
};

function limitsOf(b: Builder): Obj {
  const resources = (b.container['resources'] ??= { limits: {} }) as { limits: Obj };
  if (!b.containerNotes.some((n) => n.key === 'resources' && n.text.startsWith('Limits'))) {
    b.containerNotes.push({
      key: 'resources',
      text: 'Limits per container, as each replica had. Kubernetes sets requests to the same values when\nonly limits are given, so the scheduler reserves them on a node (Docker reserved nothing).',
    });
  }
  return resources.limits;
}

const capabilitiesOf = (b: Builder): Obj => (b.securityContext['capabilities'] ??= {}) as Obj;

// Kubernetes label keys: an optional DNS-subdomain prefix and "/", then a name of at most 63
// characters; values at most 63 of the same characters, or empty. Docker takes any text.
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const name = slash === -1 ? key : key.slice(slash + 1);
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  return LABEL_NAME.test(name) && (prefix === undefined || (prefix.length <= 253 && LABEL_PREFIX.test(prefix)));
}
export const isLabelValue = (value: string): boolean => value === '' || LABEL_NAME.test(value);

/** Keys reuseport-pod's own manifest sets on the pod template (they select the Pods: they win). */
export const OWN_TEMPLATE_LABELS = ['app.kubernetes.io/name', 'app.kubernetes.io/part-of'];

/** Docker's container labels on the Pod template: as labels where Kubernetes' syntax allows, else as annotations. */
function podLabels(labels: Record<string, string>, b: Builder): void {
  const refused: string[] = [];
  const annotated: string[] = [];
  for (const [key, value] of Object.entries(labels)) {
    if (!isLabelKey(key) || OWN_TEMPLATE_LABELS.includes(key)) refused.push(key);
    else if (isLabelValue(value)) b.labels[key] = value;
    else {
      b.annotations[key] = value;
      annotated.push(key);
    }
  }
  const lines = [`${flagOf('labels')}: Docker's container labels are the Pod's labels here (Kubernetes has none per container).`];
  if (annotated.length > 0) lines.push(`As annotations, since their values are not valid label values (63 characters of A-Z a-z 0-9 - _ .): ${annotated.join(', ')}.`);
  if (refused.length > 0) lines.push(`Not expressible: ${refused.map((k) => `"${k}"`).join(', ')} (not a Kubernetes label key, or one this manifest sets itself to select its Pods).`);
  b.templateNotes.push({ key: 'metadata', text: lines.join('\n') });
}

/** `HOST:IP` lines grouped by address, as hostAliases takes them. */
function hostAliases(hosts: string[], b: Builder): void {
  const byIp = new Map<string, string[]>();
  const gateway: string[] = [];
  for (const line of hosts) {
    const colon = line.indexOf(':');
    const [host, ip] = [line.slice(0, colon), line.slice(colon + 1)];
    if (ip === 'host-gateway') gateway.push(host);
    else byIp.set(ip, [...(byIp.get(ip) ?? []), host]);
  }
  if (byIp.size > 0) b.pod['hostAliases'] = [...byIp].map(([ip, hostnames]) => ({ ip, hostnames }));
  if (gateway.length > 0) {
    b.podNotes.push({
      key: 'containers',
      text: `${flagOf('addHosts')} ${gateway.map((h) => `${h}:host-gateway`).join(', ')}: not expressible. host-gateway is the Docker host's\naddress; a Pod has no such host: give the address of what it should reach.`,
    });
  }
}

function readinessProbe(health: HealthConfig, b: Builder): void {
  const [kind, ...rest] = health.test ?? [];
  if (kind === 'NONE') {
    b.containerNotes.push({ key: 'image', text: `--no-healthcheck: no readinessProbe (and Kubernetes never runs an image's HEALTHCHECK anyway).` });
    return;
  }
  const timings = { ...DOCKER_HEALTH_DEFAULTS, ...health };
  const command = kind === 'CMD-SHELL' ? ['sh', '-c', rest.join(' ')] : kind === 'CMD' ? rest : undefined;
  if (!command) {
    b.containerNotes.push({
      key: 'image',
      text: `${flagOf('health')} timings without a command time the image's own HEALTHCHECK, which Kubernetes never runs: not\nexpressible. Copy its command (docker image inspect --format '{{json .Config.Healthcheck}}' IMAGE) into a\nreadinessProbe exec, with periodSeconds ${secondsOf(timings.intervalMs)}, timeoutSeconds ${secondsOf(timings.timeoutMs)}, failureThreshold ${timings.retries}.`,
    });
    return;
  }
  b.container['readinessProbe'] = {
    exec: { command },
    periodSeconds: secondsOf(timings.intervalMs),
    timeoutSeconds: secondsOf(timings.timeoutMs),
    failureThreshold: timings.retries,
  };
  const rounded = (['intervalMs', 'timeoutMs'] as const).filter((k) => timings[k] % 1000 !== 0);
  b.containerNotes.push({
    key: 'readinessProbe',
    text: [
      `The health check (${flagOf('health')}): a replica is ready when it passes, as the pod waited for "healthy".`,
      ...(rounded.length > 0 ? [`Rounded up to whole seconds, Kubernetes' unit: ${rounded.map((k) => `${k.replace('Ms', '')} ${timings[k]}ms`).join(', ')}.`] : []),
      ...(timings.startPeriodMs > 0
        ? [
            `--health-start-period ${timings.startPeriodMs}ms: no initialDelaySeconds. Failures before the first success keep a container out`,
            `of the Service, as "starting" kept a replica out here; a delay would only make it ready later.`,
          ]
        : []),
      `Docker marked a replica unhealthy after failureThreshold failures and \`supervise\` replaced it; add a`,
      `livenessProbe like this one (with a startupProbe for the start period) to have the kubelet restart it.`,
    ].join('\n'),
  });
}

/**
 * docker's --entrypoint (one string) and command after -- as Kubernetes' command (replaces
 * ENTRYPOINT) and args (replace CMD). As with docker, a command without args runs without the
 * image's CMD, and args alone keep the image's ENTRYPOINT. Both expand $(VAR): escaped.
 */
function finishCommand(o: ReplicaOptions, b: Builder): void {
  const command = o.command?.length ? o.command.map(escapeDollars) : undefined;
  if (o.entrypoint === undefined) {
    if (command) b.container['args'] = command;
    return;
  }
  if (o.entrypoint !== '') {
    b.container['command'] = [escapeDollars(o.entrypoint)];
    if (command) b.container['args'] = command;
    return;
  }
  if (command) {
    // `--entrypoint ''` and a command: the command is the whole argv, as Kubernetes' command is.
    b.container['command'] = command;
    b.containerNotes.push({ key: 'command', text: `${flagOf('entrypoint')} '' and a command: the command runs alone, without the image's ENTRYPOINT or CMD.` });
    return;
  }
  b.containerNotes.push({
    key: 'image',
    text: `${flagOf('entrypoint')} '' without a command: not expressible. Docker runs the image's CMD without its ENTRYPOINT;\nKubernetes cannot clear an ENTRYPOINT without naming what runs: set command: to the image's\nCMD (docker image inspect --format '{{json .Config.Cmd}}' IMAGE).`,
  });
}

/** A Docker volume name as a claim name (a DNS-1123 subdomain: lowercase, no "_"). */
const claimName = (volume: string): string => volume.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '') || 'volume';
/** A Pod volume's name: a DNS-1123 label. */
const volumeLabel = (text: string): string => text.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50).replace(/-+$/, '');

// Of docker's -v modes, these are Kubernetes' mountPropagation; shared ones need a privileged container.
const PROPAGATION: Record<string, string> = { rslave: 'HostToContainer', slave: 'HostToContainer', private: 'None', rprivate: 'None' };

function volumeSource(m: ExportMount): Obj {
  if (m.kind === 'bind') return { hostPath: { path: m.source } };
  if (m.kind === 'volume') return { persistentVolumeClaim: { claimName: claimName(m.source ?? '') } };
  if (m.kind === 'tmpfs') return { emptyDir: { medium: 'Memory', ...(m.sizeBytes !== undefined ? { sizeLimit: memoryQuantity(m.sizeBytes) } : {}) } };
  return { emptyDir: {} };
}

/** -v, --mount and --tmpfs as the Pod's volumes and each container's volumeMounts, with what each kind means there. */
function finishMounts(o: ReplicaOptions, b: Builder): void {
  const mounts = mountsOf(o);
  if (mounts.length === 0) return;
  const volumes: Obj[] = [];
  const byKey = new Map<string, string>();
  const volumeMounts = mounts.map((m, i) => {
    // One Pod volume per bind source or named volume, however many places mount it.
    const key = m.kind === 'bind' || m.kind === 'volume' ? `${m.kind}:${m.source}` : `${i}`;
    let name = byKey.get(key);
    if (!name) {
      name = m.kind === 'volume' ? `volume-${volumeLabel(m.source ?? '')}` : `${m.kind}-${i + 1}`;
      if (volumes.some((v) => v['name'] === name)) name = `${name}-${i + 1}`;
      byKey.set(key, name);
      volumes.push({ name, ...volumeSource(m) });
    }
    const propagation = m.extra.map((e) => PROPAGATION[e]).find(Boolean);
    return { name, mountPath: m.target, ...(m.readOnly ? { readOnly: true } : {}), ...(propagation && propagation !== 'None' ? { mountPropagation: propagation } : {}) };
  });
  b.pod['volumes'] = volumes;
  b.container['volumeMounts'] = volumeMounts;
  b.podNotes.push({ key: 'volumes', text: mountNotes(mounts).join('\n') });
  // nocopy is what Kubernetes always does (a volume starts with none of the image's files).
  const lost = mounts.flatMap((m) => m.extra.filter((e) => !(e in PROPAGATION) && e !== 'nocopy').map((e) => `${m.flag} ${m.target} ${e}`));
  if (lost.length > 0) {
    b.containerNotes.push({
      key: 'volumeMounts',
      text: `Not expressible: ${lost.join('; ')}. (SELinux relabelling is the Pod's seLinuxOptions; shared\npropagation is Bidirectional, for privileged containers only; tmpfs modes and flags have no field.)`,
    });
  }
}

function mountNotes(mounts: ExportMount[]): string[] {
  const kinds = new Set(mounts.map((m) => m.kind));
  const lines: string[] = [];
  if (kinds.has('bind')) {
    lines.push(
      `Binds (${[...new Set(mounts.filter((m) => m.kind === 'bind').map((m) => m.source))].join(', ')}) are hostPath volumes: each ties the Pod to a node that has`,
      `that file or folder at that path. For configuration, a ConfigMap or Secret is the Kubernetes way.`,
    );
  }
  if (kinds.has('volume')) {
    const names = [...new Set(mounts.filter((m) => m.kind === 'volume').map((m) => m.source ?? ''))];
    lines.push(
      `Named volumes (${names.join(', ')}) are PersistentVolumeClaims (claim ${names.map(claimName).join(', ')}): they outlive the Pod as a`,
      `named volume outlived its containers. Create each claim first (this file does not: its size and`,
      `storage class are the cluster's); the Pod waits until it exists. Several Pods on several nodes need`,
      `ReadWriteMany. Unlike Docker, Kubernetes never copies the image's files into a new volume.`,
    );
  }
  if (kinds.has('anonymous')) lines.push(`Anonymous volumes are emptyDir: empty at start, gone with the Pod (Docker's lived until \`rm -v\`).`);
  if (kinds.has('tmpfs')) lines.push(`tmpfs mounts are emptyDir in memory (medium: Memory, sizeLimit from its size); what they hold counts\nagainst the container's memory limit, as on Docker.`);
  return lines;
}

export function kubernetesOptions(options: ReplicaOptions | undefined): KubernetesOptions {
  const b: Builder = { container: {}, securityContext: {}, pod: {}, labels: {}, annotations: {}, containerNotes: [], podNotes: [], templateNotes: [], mounts: [] };
  if (!options) return b;
  for (const key of Object.keys(options) as Array<keyof ReplicaOptions>) {
    const value = options[key];
    const handler = HANDLERS[key] as ((v: unknown, b: Builder) => void) | undefined;
    if (value === undefined) continue;
    // A spec written by a newer version may hold an option this one does not know: said, not dropped.
    if (!handler) b.containerNotes.push({ key: 'image', text: `Option "${key}" of the pod is not known to this version of reuseport-pod: not exported.` });
    else handler(value, b);
  }
  finishCommand(options, b);
  finishMounts(options, b);
  const { mounts: _m, ...out } = b;
  return out;
}
