// The Compose project as pods: each selected service that publishes ports becomes the pod
// `<project>-<service>`, with an explicit allow-list of keys (as nerdctl's serviceparser has).
// A key the pod cannot honour is refused, naming the service and the key; nothing is ignored.
import { formatPort, parsePodName, parsePortSpec, parseReplicas, RESERVED_ENV, type PodSpec, type PortMapping } from '../pod/model/spec.ts';
import { compactOptions, parseDuration } from '../pod/model/options.ts';
import { PROJECT_LABEL, UP_FIELD } from '../pod/model/project.ts';
import { usageError } from '../errors.ts';
import { ProjectResources, type ProjectResource } from './resources.ts';
import { serviceOptions } from './service-options.ts';
import { at, isObj, type Obj } from './words.ts';

export interface ComposePod {
  service: string;
  spec: PodSpec;
  /** Services it depends on that are not pods: they must run (Compose starts them) before it starts. */
  dependsOn: string[];
  /** Pods it depends on: `up` brings them up first (they come before it in `pods`). */
  after: string[];
}

export interface ComposeProject {
  name: string;
  pods: ComposePod[];
  /** Selected services without ports: not pods; Compose starts them. */
  others: string[];
  /** Networks and volumes the pods use (external ones only checked). */
  networks: ProjectResource[];
  volumes: ProjectResource[];
}

/** Keys a pod honours (service-options.ts and here map them); every other key is refused by name. */
const POD_KEYS = new Set([
  'image', 'command', 'entrypoint', 'environment', 'volumes', 'tmpfs', 'networks', 'extra_hosts', 'dns', 'user', 'working_dir',
  'read_only', 'cap_add', 'cap_drop', 'labels', 'healthcheck', 'stop_grace_period', 'deploy', 'mem_limit', 'cpus', 'pids_limit',
  'ports', 'scale', 'restart', 'build', 'depends_on', 'stop_signal', 'profiles',
]);

/** Why a key cannot be honoured, where there is more to say than "not supported". */
const WHY: Record<string, string> = {
  network_mode: "a pod's replicas share its sandbox's network namespace, so the pod decides it",
  pid: "a pod's replicas get their own PID namespace",
  container_name: 'a pod has several containers, named <pod>-sandbox and <pod>-N',
  env_file: 'the installed Compose did not resolve it into environment',
};

const DEPLOY_KEYS = new Set(['replicas', 'resources', 'mode']);

function refuseKeys(name: string, svc: Obj): void {
  for (const key of Object.keys(svc)) {
    if (key.startsWith('x-') || POD_KEYS.has(key)) continue;
    throw usageError(`services.${name}.${key}: a pod cannot honour this key (${WHY[key] ?? 'reuseport-pod does not map it to replicas yet'}); drop it, or run ${name} with Compose`);
  }
  const deploy = isObj(svc['deploy']) ? svc['deploy'] : {};
  for (const key of Object.keys(deploy)) {
    if (!DEPLOY_KEYS.has(key)) throw usageError(`services.${name}.deploy.${key}: a pod cannot honour this key; drop it`);
  }
  if (deploy['mode'] !== undefined && deploy['mode'] !== 'replicated') throw usageError(`services.${name}.deploy.mode: ${String(deploy['mode'])}: a pod is replicated; drop it`);
  const resources = isObj(deploy['resources']) ? deploy['resources'] : {};
  for (const key of Object.keys(resources)) if (key !== 'limits') throw usageError(`services.${name}.deploy.resources.${key}: a pod takes limits only; drop ${key}`);
  const limits = isObj(resources['limits']) ? resources['limits'] : {};
  for (const key of Object.keys(limits)) if (!['cpus', 'memory', 'pids'].includes(key)) throw usageError(`services.${name}.deploy.resources.limits.${key}: a pod takes cpus, memory and pids; drop ${key}`);
  // The engine restarts replicas unless they were stopped: what always and unless-stopped ask.
  if (svc['restart'] !== undefined && !['always', 'unless-stopped'].includes(String(svc['restart']))) {
    throw usageError(`services.${name}.restart: "${String(svc['restart'])}": a pod's replicas always restart unless stopped; use always or unless-stopped, or drop it`);
  }
  if (svc['image'] === undefined) throw usageError(`services.${name}.build: a pod runs an image and ${name} has none; add image: NAME, and build it with \`docker compose build ${name}\``);
}

/** `[IP:]HOST:CONTAINER[/tcp]`, or the long syntax; a pod needs a fixed host port of TCP. */
export function composePort(p: unknown, where: string): PortMapping {
  let spec: string;
  if (isObj(p)) {
    const protocol = String(p['protocol'] ?? 'tcp');
    if (protocol !== 'tcp') throw usageError(`${where}.protocol: ${protocol}: a pod balances TCP connections only`);
    if (p['published'] === undefined || p['published'] === null || p['published'] === '') throw usageError(`${where}: a pod needs a fixed host port; add published: PORT`);
    const ip = p['host_ip'] === undefined ? '' : String(p['host_ip']);
    spec = `${ip.includes(':') ? `[${ip}]:` : ip ? `${ip}:` : ''}${String(p['published'])}:${String(p['target'])}`;
  } else {
    const text = String(p);
    const [body = '', protocol = 'tcp'] = text.split('/');
    if (protocol !== 'tcp') throw usageError(`${where}: "${text}": a pod balances TCP connections only`);
    if (!body.includes(':')) throw usageError(`${where}: "${text}" has no host port; a pod needs a fixed one, e.g. "8080:${body}"`);
    spec = body;
  }
  if (/\d-\d/.test(spec)) throw usageError(`${where}: "${spec}" is a port range; a pod publishes single ports`);
  return at(where, () => parsePortSpec(spec));
}

function environment(name: string, svc: Obj, containerPort: number): Record<string, string> {
  const env: Record<string, string> = {};
  const raw = svc['environment'];
  const pairs: Array<[string, unknown]> = isObj(raw)
    ? Object.entries(raw)
    : Array.isArray(raw)
      ? raw.map(String).map((p) => (p.includes('=') ? [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)] : [p, null]))
      : [];
  for (const [key, value] of pairs) {
    // Compose leaves a variable without a value (and none in the shell) unset.
    if (value === null || value === undefined) continue;
    const text = String(value);
    // PORT is the container port each replica listens on; the same value is what the file says.
    if ((RESERVED_ENV as readonly string[]).includes(key) && !(key === 'PORT' && text === String(containerPort))) {
      throw usageError(`services.${name}.environment.${key}: reuseport-pod sets ${RESERVED_ENV.join(' and ')} for each replica (PORT=${containerPort}, the first container port); drop it`);
    }
    env[key] = text;
  }
  return env;
}

function replicasOf(name: string, svc: Obj, scale: Record<string, string>): number {
  if (scale[name] !== undefined) return parseReplicas(scale[name], `--scale ${name}`);
  const deploy = isObj(svc['deploy']) ? svc['deploy'] : {};
  if (deploy['replicas'] !== undefined) return parseReplicas(deploy['replicas'], `services.${name}.deploy.replicas`);
  if (svc['scale'] !== undefined) return parseReplicas(svc['scale'], `services.${name}.scale`);
  return 1;
}

function stopTimeout(name: string, svc: Obj): number {
  if (svc['stop_grace_period'] === undefined) return 10;
  const where = `services.${name}.stop_grace_period`;
  const ms = at(where, () => parseDuration(String(svc['stop_grace_period']), 'stop_grace_period'));
  const s = Math.ceil(ms / 1000);
  if (s > 3600) throw usageError(`${where}: ${String(svc['stop_grace_period'])} is more than an hour`);
  return s;
}

const publishes = (svc: unknown): boolean => isObj(svc) && svc['ports'] !== undefined && !(Array.isArray(svc['ports']) && svc['ports'].length === 0);

function dependenciesOf(name: string, svc: Obj): string[] {
  const raw = svc['depends_on'];
  const deps = raw === undefined ? [] : Array.isArray(raw) ? raw.map(String) : Object.keys(raw as Obj);
  for (const dep of deps) {
    const cond = isObj(raw) && isObj((raw as Obj)[dep]) ? ((raw as Obj)[dep] as Obj)['condition'] : undefined;
    if (cond !== undefined && cond !== 'service_started') throw usageError(`services.${name}.depends_on.${dep}.condition: ${String(cond)}: up checks only that ${dep} runs (service_started)`);
  }
  return deps;
}

/**
 * The selection with the pods it depends on, as Compose starts a service's dependencies with it,
 * dependencies first; a cycle is refused, as Compose refuses it.
 */
function withPodDependencies(selected: string[], services: Obj): string[] {
  const ordered: string[] = [];
  const visiting: string[] = [];
  const visit = (name: string): void => {
    if (ordered.includes(name)) return;
    if (visiting.includes(name)) throw usageError(`services.${name}.depends_on: a cycle (${[...visiting.slice(visiting.indexOf(name)), name].join(' -> ')}); Compose refuses it too`);
    visiting.push(name);
    const svc = services[name];
    if (isObj(svc) && publishes(svc)) {
      for (const dep of dependenciesOf(name, svc)) {
        if (!(dep in services)) throw usageError(`services.${name}.depends_on: no service "${dep}" in the project`);
        if (publishes(services[dep])) visit(dep);
      }
    }
    visiting.pop();
    ordered.push(name);
  };
  for (const name of selected) visit(name);
  return ordered;
}

export interface MapFlags {
  project: string;
  selected: string[];
  scale: Record<string, string>;
  composeVersion: string;
  /** Active profiles (--profile, COMPOSE_PROFILES). */
  profiles?: string[];
}

/**
 * Compose's rule: a service with profiles runs when one of them is active, or when it is named on
 * the command line. docker-compose 1.x's `config` prints every service whatever the profiles, so
 * the rule is applied here.
 */
function enabledByProfiles(name: string, svc: unknown, flags: MapFlags): boolean {
  const profiles = isObj(svc) && Array.isArray(svc['profiles']) ? svc['profiles'].map(String) : [];
  return profiles.length === 0 || profiles.some((p) => flags.profiles?.includes(p)) || flags.selected.includes(name);
}

/**
 * A file `export --format compose` wrote: the services it made for a pod carry UP_FIELD; they are
 * not the user's services, and the pod comes back from the one service its head's field holds.
 */
function takeBackExported(services: Obj, selected: readonly string[]): Obj {
  const out: Obj = {};
  const made = new Map<string, string>();
  const heads: Array<[string, Obj]> = [];
  for (const [name, svc] of Object.entries(services)) {
    const field = isObj(svc) ? svc[UP_FIELD] : undefined;
    if (field === undefined) {
      out[name] = svc;
      continue;
    }
    if (!isObj(field) || typeof field['pod'] !== 'string') throw usageError(`services.${name}.${UP_FIELD}: not what \`reuseport-pod export\` writes there (pod: NAME, ...); drop it`);
    made.set(name, field['pod']);
    if (field['refused'] !== undefined && (selected.length === 0 || selected.includes(name))) {
      throw usageError(`services.${name}: made by \`reuseport-pod export\` from pod ${field['pod']}, which up cannot take back: ${String(field['refused'])}; run the file with Compose`);
    }
    if (field['definition'] !== undefined) heads.push([name, field]);
  }
  for (const [name, field] of heads) {
    const service = String(field['service'] ?? '');
    if (!isObj(field['definition']) || service === '') throw usageError(`services.${name}.${UP_FIELD}: a definition needs its service's name (service: NAME); export the pod again`);
    if (service in out) throw usageError(`services.${name}.${UP_FIELD}: the pod ${String(field['pod'])} comes back as service ${service}, and the file has a service of that name too; rename one`);
    out[service] = field['definition'];
  }
  for (const s of selected) {
    if (made.has(s) && !(s in out)) throw usageError(`service "${s}" was made by \`reuseport-pod export\` for pod ${made.get(s) ?? ''}; name the pod's service instead (${Object.keys(out).join(', ') || 'none'})`);
  }
  return out;
}

export function mapProject(model: Obj, flags: MapFlags): ComposeProject {
  const services = takeBackExported(isObj(model['services']) ? model['services'] : {}, flags.selected);
  for (const s of flags.selected) if (!(s in services)) throw usageError(`no service "${s}" in the project; it has ${Object.keys(services).join(', ') || 'none'}`);
  const selected = withPodDependencies(flags.selected.length > 0 ? flags.selected : Object.keys(services).filter((name) => enabledByProfiles(name, services[name], flags)), services);
  const resources = new ProjectResources(flags.project, model, flags.composeVersion);
  const pods: ComposePod[] = [];
  const others: string[] = [];
  for (const name of selected) {
    const svc = services[name] as Obj;
    if (!publishes(svc)) {
      others.push(name);
      continue;
    }
    refuseKeys(name, svc);
    const podName = at(`services.${name}`, () => parsePodName(`${flags.project}-${name}`));
    const ports = (svc['ports'] as unknown[]).map((p, i) => composePort(p, `services.${name}.ports[${i}]`));
    ports.forEach((p, i) => {
      const j = ports.findIndex((q) => q.hostPort === p.hostPort && (q.hostIp === undefined || p.hostIp === undefined || q.hostIp === p.hostIp));
      if (j < i) throw usageError(`services.${name}.ports[${i}]: host port ${p.hostPort} is published twice (${formatPort(p)}, ${formatPort(ports[j] as PortMapping)})`);
    });
    const options = serviceOptions(name, svc, resources);
    options.labels = { ...options.labels, [PROJECT_LABEL]: flags.project };
    const spec: PodSpec = {
      name: podName,
      image: String(svc['image']),
      ports,
      replicas: replicasOf(name, svc, flags.scale),
      env: environment(name, svc, ports[0]?.containerPort ?? 8080),
      stopTimeout: stopTimeout(name, svc),
      mode: 'reuseport',
    };
    const compact = compactOptions(options);
    if (compact) spec.options = compact;
    const deps = dependenciesOf(name, svc);
    pods.push({ service: name, spec, dependsOn: deps.filter((d) => !publishes(services[d])), after: deps.filter((d) => publishes(services[d])) });
  }
  for (const s of Object.keys(flags.scale)) {
    if (!(s in services)) throw usageError(`--scale ${s}: no service "${s}" in the project`);
    if (!pods.some((p) => p.service === s)) throw usageError(`--scale ${s}: ${s} is not a pod here (${selected.includes(s) ? 'it publishes no port' : 'it is not selected'}); scale it with Compose`);
  }
  return { name: flags.project, pods, others, networks: [...resources.networks.values()], volumes: [...resources.volumes.values()] };
}
