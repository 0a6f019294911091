// One Compose service's keys as the pod's replica options, through the same parsers as the
// `docker run` flags (src/pod/model/options.ts), so a file and the flags obey the same rules.
import type { HealthConfig, MountSpec } from '../runtime/runtime.ts';
import {
  parseAddHosts,
  parseCapabilities,
  parseCpus,
  parseDns,
  parseDuration,
  parseLabels,
  parseMemory,
  parseMount,
  parseNetworkAliases,
  parseNetworks,
  parsePidsLimit,
  parseStopSignal,
  parseTmpfs,
  parseVolume,
  type ReplicaOptions,
} from '../pod/model/options.ts';
import { usageError } from '../errors.ts';
import type { ProjectResources } from './resources.ts';
import { at, isObj, listOf, pairsOf, shellWords, type Obj } from './words.ts';

const isPath = (s: string): boolean => s.startsWith('/') || s.startsWith('.') || s.startsWith('~');

/** Short syntax `SRC:DST[:MODE]` or `DST`; a named volume's key becomes its project-prefixed name. */
function shortVolume(spec: string, where: string, resources: ProjectResources): string {
  const [source = '', ...rest] = spec.split(':');
  const named = rest.length > 0 && !isPath(source) ? resources.volume(source, where).name : source;
  return at(where, () => parseVolume([named, ...rest].join(':')));
}

const LONG_VOLUME_KEYS = new Set(['type', 'source', 'target', 'read_only', 'tmpfs', 'volume', 'bind']);

/** Long syntax (`type: volume, source: data, target: /data`) as a `--mount`. */
function longVolume(v: Obj, where: string, resources: ProjectResources): MountSpec {
  for (const k of Object.keys(v)) if (!LONG_VOLUME_KEYS.has(k)) throw usageError(`${where}.${k}: a pod's mounts take type, source, target, read_only and tmpfs.size; drop ${k}`);
  const type = String(v['type'] ?? 'volume');
  const fields = [`type=${type}`, `target=${String(v['target'] ?? '')}`];
  const refuseSub = (key: string, allowed: string[]): void => {
    if (v[key] === undefined) return;
    const bad = isObj(v[key]) ? Object.keys(v[key] as Obj).find((k) => !allowed.includes(k)) : key;
    if (bad !== undefined) throw usageError(`${where}.${key}${bad === key ? '' : `.${bad}`}: not supported in a pod's mounts; drop it`);
  };
  refuseSub('volume', []);
  refuseSub('bind', ['create_host_path']);
  refuseSub('tmpfs', ['size']);
  if (v['source'] !== undefined && v['source'] !== null) {
    const source = String(v['source']);
    fields.push(`source=${type === 'volume' ? resources.volume(source, `${where}.source`).name : source}`);
  }
  if (v['read_only'] === true) fields.push('readonly');
  const size = isObj(v['tmpfs']) ? v['tmpfs']['size'] : undefined;
  if (size !== undefined) fields.push(`tmpfs-size=${String(size)}`);
  return at(where, () => parseMount(fields.join(',')));
}

function health(h: Obj, where: string): HealthConfig {
  const known = new Set(['test', 'interval', 'timeout', 'retries', 'start_period', 'disable']);
  for (const k of Object.keys(h)) if (!known.has(k)) throw usageError(`${where}.${k}: not supported by reuseport-pod's health checks; drop it`);
  if (h['disable'] === true) return { test: ['NONE'] };
  const out: HealthConfig = {};
  const test = h['test'];
  if (typeof test === 'string') out.test = ['CMD-SHELL', test];
  else if (Array.isArray(test)) {
    const [kind] = test as string[];
    if (kind !== 'CMD' && kind !== 'CMD-SHELL' && kind !== 'NONE') throw usageError(`${where}.test: a list starts with CMD, CMD-SHELL or NONE`);
    out.test = test.map(String);
  }
  const ms = (key: string): number | undefined => (h[key] === undefined ? undefined : at(`${where}.${key}`, () => parseDuration(String(h[key]), key)));
  const interval = ms('interval');
  const timeout = ms('timeout');
  const start = ms('start_period');
  if (interval !== undefined) out.intervalMs = interval;
  if (timeout !== undefined) out.timeoutMs = timeout;
  if (start !== undefined) out.startPeriodMs = start;
  if (h['retries'] !== undefined) {
    const n = Number(h['retries']);
    if (!Number.isInteger(n) || n < 1) throw usageError(`${where}.retries: "${String(h['retries'])}" is not a positive whole number`);
    out.retries = n;
  }
  return out;
}

/** Compose lets a memory limit be said twice; two different values are refused, not guessed between. */
function oneOf(where: [string, string], values: [unknown, unknown]): unknown {
  const [a, b] = values;
  if (a !== undefined && b !== undefined && String(a) !== String(b)) throw usageError(`services.${where[0]} and ${where[1]} differ (${String(a)}, ${String(b)}); keep one`);
  return a ?? b;
}

/**
 * The entrypoint docker takes is one program; a longer Compose entrypoint becomes that program
 * with the rest in front of the command, which is the same argv only when the command is given
 * (otherwise the image's CMD would be lost).
 */
function entrypointAndCommand(svc: Obj, where: string, o: ReplicaOptions): void {
  const words = (key: string): string[] | undefined => {
    const v = svc[key];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'string' ? shellWords(v, `${where}.${key}`) : (v as unknown[]).map(String);
  };
  const entrypoint = words('entrypoint');
  const command = words('command');
  if (entrypoint && entrypoint.length > 1 && !command) {
    throw usageError(`${where}.entrypoint: a pod takes an entrypoint of one word unless command is given too (the image's CMD would follow it); move the arguments to command`);
  }
  if (entrypoint) o.entrypoint = entrypoint[0] ?? '';
  const all = [...(entrypoint?.slice(1) ?? []), ...(command ?? [])];
  if (command || all.length > 0) o.command = all;
}

export function serviceOptions(name: string, svc: Obj, resources: ProjectResources): ReplicaOptions {
  const where = `services.${name}`;
  const o: ReplicaOptions = {};
  // Every service is on the project's default network unless it names its networks, as in Compose.
  const nets = svc['networks'];
  const keys = nets === undefined ? ['default'] : Array.isArray(nets) ? nets.map(String) : Object.keys(nets as Obj);
  if (isObj(nets)) {
    for (const [k, v] of Object.entries(nets)) {
      if (isObj(v) && Object.keys(v).length > 0) throw usageError(`${where}.networks.${k}.${Object.keys(v)[0]}: a pod's replicas share its sandbox's place on the network; drop ${Object.keys(v)[0]}`);
    }
  }
  const names = keys.map((k) => resources.network(k, `${where}.networks`).name);
  o.networks = at(`${where}.networks`, () => parseNetworks(names));
  // As Compose names every container of a service: by the service's name, on each of its networks.
  o.networkAliases = at(where, () => parseNetworkAliases([name], o.networks, `${where} (its name, as an alias)`));
  const volumes = (svc['volumes'] as unknown[] | undefined) ?? [];
  const binds: string[] = [];
  const mounts: MountSpec[] = [];
  volumes.forEach((v, i) => (typeof v === 'string' ? binds.push(shortVolume(v, `${where}.volumes[${i}]`, resources)) : mounts.push(longVolume(v as Obj, `${where}.volumes[${i}]`, resources))));
  if (binds.length) o.volumes = binds;
  if (mounts.length) o.mounts = mounts;
  if (svc['tmpfs'] !== undefined) o.tmpfs = at(`${where}.tmpfs`, () => parseTmpfs(listOf(svc['tmpfs'])));
  if (svc['user'] !== undefined) o.user = String(svc['user']);
  if (svc['working_dir'] !== undefined) {
    const dir = String(svc['working_dir']);
    if (!dir.startsWith('/')) throw usageError(`${where}.working_dir: "${dir}" is not absolute; write it from /`);
    o.workdir = dir;
  }
  entrypointAndCommand(svc, where, o);
  const limits = isObj(svc['deploy']) && isObj((svc['deploy'] as Obj)['resources']) ? (((svc['deploy'] as Obj)['resources'] as Obj)['limits'] as Obj | undefined) : undefined;
  const memory = oneOf([`${name}.mem_limit`, 'deploy.resources.limits.memory'], [svc['mem_limit'], limits?.['memory']]);
  if (memory !== undefined) o.memoryBytes = at(`${where}.mem_limit`, () => parseMemory(String(memory)));
  const cpus = oneOf([`${name}.cpus`, 'deploy.resources.limits.cpus'], [svc['cpus'], limits?.['cpus']]);
  if (cpus !== undefined) o.nanoCpus = at(`${where}.cpus`, () => parseCpus(String(cpus)));
  const pids = oneOf([`${name}.pids_limit`, 'deploy.resources.limits.pids'], [svc['pids_limit'], limits?.['pids']]);
  if (pids !== undefined) o.pidsLimit = at(`${where}.pids_limit`, () => parsePidsLimit(String(pids)));
  if (svc['read_only'] === true) o.readOnly = true;
  if (svc['cap_add'] !== undefined) o.capAdd = at(`${where}.cap_add`, () => parseCapabilities(listOf(svc['cap_add']), 'cap_add'));
  if (svc['cap_drop'] !== undefined) o.capDrop = at(`${where}.cap_drop`, () => parseCapabilities(listOf(svc['cap_drop']), 'cap_drop'));
  if (svc['labels'] !== undefined) o.labels = at(`${where}.labels`, () => parseLabels(pairsOf(svc['labels'], '=')));
  if (svc['extra_hosts'] !== undefined) o.addHosts = at(`${where}.extra_hosts`, () => parseAddHosts(pairsOf(svc['extra_hosts'], ':')));
  if (svc['dns'] !== undefined) o.dns = at(`${where}.dns`, () => parseDns(listOf(svc['dns'])));
  if (isObj(svc['healthcheck'])) o.health = health(svc['healthcheck'], `${where}.healthcheck`);
  if (svc['stop_signal'] !== undefined) o.stopSignal = parseStopSignal(String(svc['stop_signal']), `${where}.stop_signal`);
  return o;
}
