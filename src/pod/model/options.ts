// What a real app needs besides an image and a port, in `docker run`'s words: networks, volumes,
// env files, limits, user, command, health checks. Parsed here, once, with docker's syntax and
// docker's rules, so that create, rollout and (later) a Compose file all produce the same options.
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { isIP } from 'node:net';
import * as os from 'node:os';
import { usageError } from '../../errors.ts';
import type { HealthConfig, MountSpec } from '../../runtime/runtime.ts';
import { RESERVED_ENV } from './spec.ts';

/**
 * Options every replica of the pod gets. Part of the pod's stored spec: scale and repair make new
 * replicas exactly like the old ones, rollout changes what it is given.
 */
export interface ReplicaOptions {
  /** Existing networks the pod joins (where depends on the mode: the sandbox, or each replica). */
  networks?: string[];
  /** `--network-alias`: names the namespace's owner answers to on each of those networks (DNS). */
  networkAliases?: string[];
  /** `-v` as docker takes it, with a bind's source made absolute. */
  volumes?: string[];
  mounts?: MountSpec[];
  /** Mount point -> tmpfs options ('' for none), as HostConfig.Tmpfs. */
  tmpfs?: Record<string, string>;
  user?: string;
  workdir?: string;
  /** `--entrypoint`: one string, as docker takes it ('' clears the image's). */
  entrypoint?: string;
  /** The command after `--`, replacing the image's CMD. */
  command?: string[];
  memoryBytes?: number;
  /** CPUs in billionths (HostConfig.NanoCpus): --cpus 1.5 is 1.5e9. */
  nanoCpus?: number;
  pidsLimit?: number;
  readOnly?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  labels?: Record<string, string>;
  /** `--add-host HOST:IP` lines and `--dns` servers: the network namespace's, so on the sandbox where it owns one. */
  addHosts?: string[];
  dns?: string[];
  /** The health check: set, or disabled (test ['NONE']); absent: the image's own. */
  health?: HealthConfig;
  /** `--stop-signal`, as `SIGNAME`: what stop sends first (the image's STOPSIGNAL, else SIGTERM, when absent). */
  stopSignal?: string;
}

export const OPTION_FLAGS: Record<keyof ReplicaOptions, string> = {
  networks: '--network',
  networkAliases: '--network-alias',
  volumes: '--volume',
  mounts: '--mount',
  tmpfs: '--tmpfs',
  user: '--user',
  workdir: '--workdir',
  entrypoint: '--entrypoint',
  command: 'a command after --',
  memoryBytes: '--memory',
  nanoCpus: '--cpus',
  pidsLimit: '--pids-limit',
  readOnly: '--read-only',
  capAdd: '--cap-add',
  capDrop: '--cap-drop',
  labels: '--label',
  addHosts: '--add-host',
  dns: '--dns',
  health: '--health-cmd',
  stopSignal: '--stop-signal',
};

// ---------------------------------------------------------------------------------------------
// Environment files

/**
 * docker's env-file format: `KEY=VALUE` taken literally (no quotes, no expansion), `#` lines and
 * blank lines skipped, a bare `KEY` takes the value from `from` (the CLI's environment) and is left
 * out when that has none. Files are read in order; a later one wins, and `--env` wins over all.
 */
export function readEnvFiles(files: readonly string[], from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : code === 'EISDIR' ? 'is a folder' : `cannot be read (${code ?? String(err)})`;
      throw usageError(`--env-file "${file}" ${why}; give a file of KEY=VALUE lines`);
    }
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.replace(/^\s+/, '');
      if (line === '' || line.startsWith('#')) return;
      const eq = line.indexOf('=');
      const key = eq === -1 ? line.trimEnd() : line.slice(0, eq);
      const where = `--env-file "${file}" line ${i + 1}`;
      if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key)) throw usageError(`${where}: "${key}" is not a variable name; write KEY=VALUE`);
      if ((RESERVED_ENV as readonly string[]).includes(key)) throw usageError(`${where}: ${key} is set by reuseport-pod for each replica (${RESERVED_ENV.join(', ')}); drop the line`);
      if (eq !== -1) env[key] = line.slice(eq + 1);
      else if (from[key] !== undefined) env[key] = from[key] as string;
    });
  }
  return env;
}

// ---------------------------------------------------------------------------------------------
// Volumes and mounts

const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const VOLUME_MODES = new Set(['ro', 'rw', 'z', 'Z', 'nocopy', 'private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);

const absoluteTarget = (target: string, flag: string, spec: string): string => {
  if (!target.startsWith('/')) throw usageError(`${flag} "${spec}": the container path "${target}" is not absolute; write it from /`);
  return target;
};

/** A bind source must exist: `-v` would quietly make an empty folder in its place, and the app would start on nothing. */
function bindSource(source: string, flag: string, spec: string, checkSource: boolean): string {
  const path = isAbsolute(source) ? source : resolve(source);
  if (checkSource && !existsSync(path)) throw usageError(`${flag} "${spec}": the bind source ${path} does not exist; create it, or fix the path`);
  return path;
}

/** `-v SRC:DST[:OPTS]` or `-v DST` (an anonymous volume); SRC is a path (bind) or a volume name. */
export function parseVolume(spec: string, checkSource = true): string {
  const hint = 'use SRC:DST[:ro], e.g. -v ./config.yml:/app/config.yml:ro or -v data:/var/lib/data';
  const parts = spec.split(':');
  if (parts.some((p) => p === '') || parts.length > 3) throw usageError(`-v "${spec}" is not a volume; ${hint}`);
  if (parts.length === 1) return absoluteTarget(parts[0] ?? '', '-v', spec);
  const [source = '', target = '', mode] = parts;
  absoluteTarget(target, '-v', spec);
  if (mode !== undefined) {
    const bad = mode.split(',').find((m) => !VOLUME_MODES.has(m));
    if (bad !== undefined) throw usageError(`-v "${spec}": "${bad}" is not a volume option; use ro or rw (docker also takes z, Z, nocopy and propagation modes)`);
  }
  const isPath = source.startsWith('/') || source.startsWith('.') || source.startsWith('~');
  if (!isPath && !VOLUME_NAME.test(source)) throw usageError(`-v "${spec}": "${source}" is neither a path nor a volume name; start a path with / or ./`);
  const src = isPath ? bindSource(source.replace(/^~(?=\/|$)/, process.env['HOME'] ?? '~'), '-v', spec, checkSource) : source;
  return [src, target, ...(mode === undefined ? [] : [mode])].join(':');
}

const MOUNT_TYPES = ['bind', 'volume', 'tmpfs'] as const;

/** docker's `--mount type=bind,source=...,target=...[,readonly]`; keys it has that are not taken here are refused, never dropped. */
export function parseMount(spec: string, checkSource = true): MountSpec {
  const fields = new Map<string, string | undefined>();
  for (const item of spec.split(',')) {
    const eq = item.indexOf('=');
    const key = (eq === -1 ? item : item.slice(0, eq)).trim().toLowerCase();
    if (key === '') throw usageError(`--mount "${spec}" has an empty field; use type=bind,source=/path,target=/path[,readonly]`);
    fields.set(key, eq === -1 ? undefined : item.slice(eq + 1));
  }
  const take = (...keys: string[]): string | undefined => {
    for (const k of keys) if (fields.has(k)) {
      const v = fields.get(k);
      keys.forEach((kk) => fields.delete(kk));
      return v ?? '';
    }
    return undefined;
  };
  const type = take('type') ?? 'volume';
  if (!(MOUNT_TYPES as readonly string[]).includes(type)) throw usageError(`--mount "${spec}": type "${type}" is not one of ${MOUNT_TYPES.join(', ')}`);
  const source = take('source', 'src');
  const target = take('target', 'destination', 'dst');
  const readonly = take('readonly', 'ro');
  const size = take('tmpfs-size');
  const mode = take('tmpfs-mode');
  const [left] = fields.keys();
  if (left !== undefined) throw usageError(`--mount "${spec}": "${left}" is not supported by reuseport-pod; use type, source, target, readonly (tmpfs: tmpfs-size, tmpfs-mode)`);
  if (target === undefined || target === '') throw usageError(`--mount "${spec}" has no target; add target=/path/in/container`);
  absoluteTarget(target, '--mount', spec);
  if (readonly !== undefined && !['', 'true', '1', 'false', '0'].includes(readonly)) throw usageError(`--mount "${spec}": readonly=${readonly} is not true or false`);
  const mount: MountSpec = { type: type as MountSpec['type'], target };
  if (readonly !== undefined && readonly !== 'false' && readonly !== '0') mount.readOnly = true;
  if (type === 'tmpfs') {
    if (source !== undefined) throw usageError(`--mount "${spec}": a tmpfs has no source; drop source=`);
    if (size !== undefined) mount.tmpfsSizeBytes = parseBytes(size, '--mount tmpfs-size');
    if (mode !== undefined) {
      if (!/^[0-7]{3,4}$/.test(mode)) throw usageError(`--mount "${spec}": tmpfs-mode=${mode} is not an octal mode such as 1777`);
      mount.tmpfsMode = parseInt(mode, 8);
    }
    return mount;
  }
  if (size !== undefined || mode !== undefined) throw usageError(`--mount "${spec}": tmpfs-size and tmpfs-mode are for type=tmpfs`);
  if (type === 'bind') {
    if (!source) throw usageError(`--mount "${spec}": a bind needs source=/path/on/host`);
    mount.source = bindSource(source, '--mount', spec, checkSource);
  } else if (source) {
    if (!VOLUME_NAME.test(source)) throw usageError(`--mount "${spec}": "${source}" is not a volume name`);
    mount.source = source;
  }
  return mount;
}

/** `--tmpfs DST[:OPTIONS]`, e.g. `--tmpfs /run:rw,size=64m`. */
export function parseTmpfs(specs: readonly string[]): Record<string, string> {
  const tmpfs: Record<string, string> = {};
  for (const spec of specs) {
    const colon = spec.indexOf(':');
    const target = colon === -1 ? spec : spec.slice(0, colon);
    tmpfs[absoluteTarget(target, '--tmpfs', spec)] = colon === -1 ? '' : spec.slice(colon + 1);
  }
  return tmpfs;
}

// ---------------------------------------------------------------------------------------------
// Limits

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** docker's sizes: a number with an optional b, k, m, g (binary units; `kb`, `mib` and the like too). */
export function parseBytes(raw: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?$/i.exec(raw.trim());
  if (!m) throw usageError(`${flag} "${raw}" is not a size; use a number with b, k, m or g, e.g. 512m`);
  return Math.round(Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] ?? 1));
}

/** The smallest memory limit Docker and Podman take. */
const MIN_MEMORY = 6 * 1024 ** 2;

export function parseMemory(raw: string): number {
  const bytes = parseBytes(raw, '--memory');
  if (bytes < MIN_MEMORY) throw usageError(`--memory "${raw}" is below the engines' minimum of 6m; give at least 6m`);
  return bytes;
}

export function parseCpus(raw: string): number {
  const text = raw.trim();
  if (!/^\d*\.?\d+$/.test(text) || Number(text) <= 0) throw usageError(`--cpus "${raw}" is not a positive number of CPUs; use e.g. 0.5 or 2`);
  const nano = Math.round(Number(text) * 1e9);
  if (nano < 1e7) throw usageError(`--cpus "${raw}" is below 0.01; give at least 0.01`);
  return nano;
}

export function parsePidsLimit(raw: string): number {
  const text = raw.trim();
  if (text === '-1') return -1;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw usageError(`--pids-limit "${raw}" is not a positive whole number; use e.g. 100 (-1: no limit)`);
  return Number(text);
}

export function parseCapabilities(names: readonly string[], flag: string): string[] {
  return names.map((raw) => {
    const name = raw.trim().toUpperCase().replace(/^CAP_/, '');
    if (!/^[A-Z_]+$/.test(name)) throw usageError(`${flag} "${raw}" is not a capability name; use e.g. NET_BIND_SERVICE or ALL`);
    return name;
  });
}

const RESERVED_LABEL_PREFIX = 'io.reuseport-pod.';

export function parseLabels(pairs: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq === -1 ? pair : pair.slice(0, eq);
    if (key === '' || /\s/.test(key)) throw usageError(`--label "${pair}": "${key}" is not a label key; use --label KEY=VALUE`);
    if (key.startsWith(RESERVED_LABEL_PREFIX)) throw usageError(`--label "${pair}": keys starting ${RESERVED_LABEL_PREFIX} are reuseport-pod's own; choose another key`);
    labels[key] = eq === -1 ? '' : pair.slice(eq + 1);
  }
  return labels;
}

/**
 * `--stop-signal`: a name with or without SIG (QUIT, SIGQUIT) or a number, as docker takes it, kept
 * as SIGNAME. SIGKILL is refused: a replica must get the chance to close its listener and drain.
 */
export function parseStopSignal(value: string, flag = '--stop-signal'): string {
  const signals = os.constants.signals as Record<string, number>;
  const upper = value.trim().toUpperCase();
  const byNumber = /^\d+$/.test(upper) ? Object.keys(signals).find((k) => signals[k] === Number(upper)) : undefined;
  const name = byNumber ?? (upper.startsWith('SIG') ? upper : `SIG${upper}`);
  if (!(name in signals)) throw usageError(`${flag} "${value}" is not a signal; use a name such as SIGQUIT or SIGINT`);
  if (name === 'SIGKILL' || name === 'SIGSTOP') throw usageError(`${flag} ${name} cannot be caught, so no replica could drain on it; use the signal the server drains on (SIGTERM, SIGQUIT, SIGINT)`);
  return name;
}

// ---------------------------------------------------------------------------------------------
// Names, hosts, resolvers

const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function parseNetworks(names: readonly string[]): string[] {
  for (const name of names) {
    if (['host', 'none', 'bridge', 'default'].includes(name) || name.startsWith('container:')) {
      throw usageError(`--network ${name} is the pod's own business (its --mode picks the namespace); give a user-defined network, e.g. one made with \`docker network create\``);
    }
    if (!NETWORK_NAME.test(name)) throw usageError(`--network "${name}" is not a network name`);
  }
  return [...new Set(names)];
}

/** A DNS name on the joined networks: letters, digits, `-`, `_` and `.`, as Docker's embedded DNS resolves them. */
export function parseNetworkAliases(aliases: readonly string[], networks: readonly string[] | undefined, flag = '--network-alias'): string[] {
  for (const alias of aliases) {
    if (!/^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/.test(alias)) throw usageError(`${flag} "${alias}" is not a name other containers can look up; use letters, digits, "-", "_" and "."`);
  }
  if (aliases.length > 0 && !networks?.length) throw usageError(`${flag} names the pod on the networks it joins, and it joins none; add --network NAME`);
  return [...new Set(aliases)];
}

/** `HOST:IP`, as docker takes it (`HOST=IP` too; IPv6 addresses need no brackets). */
export function parseAddHosts(specs: readonly string[]): string[] {
  return specs.map((spec) => {
    const sep = spec.includes('=') ? spec.indexOf('=') : spec.indexOf(':');
    const host = spec.slice(0, sep);
    const ip = spec.slice(sep + 1).replace(/^\[(.*)\]$/, '$1');
    if (sep <= 0 || !/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(host)) throw usageError(`--add-host "${spec}" is not HOST:IP; use e.g. --add-host db.internal:10.0.0.5`);
    if (isIP(ip) === 0 && ip !== 'host-gateway') throw usageError(`--add-host "${spec}": "${ip}" is not an IP address (or host-gateway)`);
    return `${host}:${ip}`;
  });
}

export function parseDns(servers: readonly string[]): string[] {
  for (const ip of servers) if (isIP(ip) === 0) throw usageError(`--dns "${ip}" is not an IP address; use e.g. --dns 1.1.1.1`);
  return [...servers];
}

// ---------------------------------------------------------------------------------------------
// Health checks

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's durations, as docker takes them: `30s`, `1m30s`, `500ms`; a bare number is refused, as docker does. */
export function parseDuration(raw: string, flag: string): number {
  const text = raw.trim();
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let ms = 0;
  let at = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    ms += Number(m[1]) * (DURATION_UNITS[m[2] ?? 's'] ?? 0);
    at = re.lastIndex;
  }
  if (text === '' || at !== text.length) throw usageError(`${flag} "${raw}" is not a duration; use e.g. 30s, 1m30s or 500ms`);
  return Math.round(ms);
}

export interface HealthFlags {
  cmd?: string;
  interval?: string;
  timeout?: string;
  retries?: string;
  startPeriod?: string;
  none?: boolean;
}

/** undefined: no health flag given, the image's HEALTHCHECK (if any) stands. */
export function parseHealth(flags: HealthFlags): HealthConfig | undefined {
  const given = (['cmd', 'interval', 'timeout', 'retries', 'startPeriod'] as const).filter((k) => flags[k] !== undefined);
  if (flags.none) {
    if (given.length > 0) throw usageError('--no-healthcheck conflicts with the --health-* options; give one or the other');
    return { test: ['NONE'] };
  }
  if (given.length === 0) return undefined;
  const health: HealthConfig = {};
  if (flags.cmd !== undefined) {
    if (flags.cmd.trim() === '') throw usageError('--health-cmd is empty; give the command that exits 0 when the replica is healthy, or --no-healthcheck');
    health.test = ['CMD-SHELL', flags.cmd];
  }
  const positive = (raw: string, flag: string): number => {
    const ms = parseDuration(raw, flag);
    if (ms < 1) throw usageError(`${flag} "${raw}" must be at least 1ms`);
    return ms;
  };
  if (flags.interval !== undefined) health.intervalMs = positive(flags.interval, '--health-interval');
  if (flags.timeout !== undefined) health.timeoutMs = positive(flags.timeout, '--health-timeout');
  if (flags.startPeriod !== undefined) health.startPeriodMs = parseDuration(flags.startPeriod, '--health-start-period');
  if (flags.retries !== undefined) {
    if (!/^\d+$/.test(flags.retries.trim()) || Number(flags.retries) < 1) throw usageError(`--health-retries "${flags.retries}" is not a positive whole number`);
    health.retries = Number(flags.retries);
  }
  return health;
}

/** Drops the absent and empty options, so that a pod without any reads (and hashes) as it always did. */
export function compactOptions(options: ReplicaOptions): ReplicaOptions | undefined {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (Array.isArray(value) && value.length === 0 && key !== 'command') continue;
    if (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0) continue;
    if (value === false) continue;
    out[key] = value;
  }
  return Object.keys(out).length > 0 ? (out as ReplicaOptions) : undefined;
}
