// What a pod is, as the user asked for it. Parsing and validation live here so that every
// command (and every engine) sees the same rules and the same messages.
import { isIP } from 'node:net';
import { usageError } from '../../errors.ts';
import type { ReplicaOptions } from './options.ts';

export const MAX_REPLICAS = 100;
export const DEFAULT_STOP_TIMEOUT_S = 10;
/** Seconds a new replica must stay up after it listens (`--monitor`); see src/pod/ops/monitor.ts. */
export const DEFAULT_MONITOR_S = 5;

export interface PortMapping {
  /** Host address the port is published on; undefined = all addresses (Docker's default). */
  hostIp?: string;
  hostPort: number;
  containerPort: number;
}

/**
 * reuseport: the replicas share the sandbox's network namespace and listen with SO_REUSEPORT (the
 * default); dnat: each replica has its own namespace on the pod's network and listens normally,
 * and NAT rules in the sandbox's namespace spread new connections over them (any server works);
 * host: the replicas listen in the host's own namespace with SO_REUSEPORT (no NAT, no proxy).
 */
export const POD_MODES = ['reuseport', 'dnat', 'host'] as const;
export type PodMode = (typeof POD_MODES)[number];

export const isPodMode = (value: unknown): value is PodMode => (POD_MODES as readonly unknown[]).includes(value);

export function parseMode(raw: unknown): PodMode {
  const text = String(raw ?? 'reuseport').trim();
  if (!(POD_MODES as readonly string[]).includes(text)) throw usageError(`--mode "${text}" is not a mode; use ${POD_MODES.slice(0, -1).join(' or ')}, or ${POD_MODES.at(-1)}`);
  return text as PodMode;
}

export interface PodSpec {
  name: string;
  image: string;
  ports: PortMapping[];
  replicas: number;
  /** User environment, without the INSTANCE and PORT the launcher sets per replica. */
  env: Record<string, string>;
  /** Seconds between SIGTERM and SIGKILL when a replica is stopped. */
  stopTimeout: number;
  /** Absent means reuseport (pods made before modes existed have none). */
  mode?: PodMode;
  /** Networks, volumes, limits, user, command, health...: absent when none was given. */
  options?: ReplicaOptions;
}

// Docker accepts [a-zA-Z0-9][a-zA-Z0-9_.-]+; we take the lowercase subset (as Compose does for
// project names) and keep room for the "-sandbox" and "-<n>" suffixes within 63 characters.
const NAME_RE = /^[a-z0-9][a-z0-9_.-]*$/;
const MAX_NAME = 50;

export function parsePodName(raw: unknown): string {
  const name = String(raw ?? '');
  if (name === '') throw usageError('a pod name is required, e.g. `reuseport-pod create web ...`');
  if (name.length > MAX_NAME) throw usageError(`pod name "${name}" is longer than ${MAX_NAME} characters; choose a shorter one`);
  if (!NAME_RE.test(name)) {
    throw usageError(
      `pod name "${name}" is not valid: use lowercase letters, digits, "-", "_" and ".", starting with a letter or digit`,
    );
  }
  return name;
}

function parsePort(text: string, what: string, spec: string): number {
  if (!/^\d+$/.test(text)) throw usageError(`--port "${spec}": ${what} port "${text}" is not a number; use [IP:]HOST:CONTAINER, e.g. 80:8080`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw usageError(`--port "${spec}": ${what} port ${port} is out of range; use 1-65535`);
  return port;
}

/** `[IP:]HOST:CONTAINER`, IPv6 host addresses in brackets: `[::1]:80:8080`. */
export function parsePortSpec(spec: string): PortMapping {
  const hint = 'use [IP:]HOST:CONTAINER, e.g. 80:8080 or 127.0.0.1:80:8080';
  let rest = spec.trim();
  let hostIp: string | undefined;
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  if (v6) {
    hostIp = v6[1];
    rest = v6[2] ?? '';
    if (isIP(hostIp ?? '') !== 6) throw usageError(`--port "${spec}": "${hostIp}" is not an IPv6 address; ${hint}`);
  }
  const parts = rest.split(':');
  if (!hostIp && parts.length === 3) {
    hostIp = parts.shift();
    if (isIP(hostIp ?? '') !== 4) throw usageError(`--port "${spec}": "${hostIp}" is not an IPv4 address (IPv6 goes in brackets); ${hint}`);
  }
  if (parts.length !== 2) throw usageError(`--port "${spec}" is not a port mapping; ${hint}`);
  const [host = '', container = ''] = parts;
  if (host === '' || container === '') throw usageError(`--port "${spec}" lacks the ${host === '' ? 'host' : 'container'} port; ${hint}`);
  const mapping: PortMapping = { hostPort: parsePort(host, 'host', spec), containerPort: parsePort(container, 'container', spec) };
  if (hostIp !== undefined) mapping.hostIp = hostIp;
  return mapping;
}

export function parsePortSpecs(specs: readonly string[]): PortMapping[] {
  if (specs.length === 0) throw usageError('at least one --port [IP:]HOST:CONTAINER is required, e.g. --port 80:8080');
  const ports = specs.map(parsePortSpec);
  ports.forEach((p, i) => {
    // Two mappings on one host port collide unless both name different addresses.
    const j = ports.findIndex((q) => q.hostPort === p.hostPort && (q.hostIp === undefined || p.hostIp === undefined || q.hostIp === p.hostIp));
    if (j < i) throw usageError(`--port "${specs[i]}" uses host port ${p.hostPort} again (see "${specs[j]}"); give each mapping its own host port`);
  });
  return ports;
}

export function parseReplicas(raw: unknown, flag = '--replicas'): number {
  const text = String(raw ?? '').trim();
  if (!/^\d+$/.test(text)) throw usageError(`${flag} "${text}" is not a whole number; use 1-${MAX_REPLICAS}`);
  const n = Number(text);
  if (n < 1 || n > MAX_REPLICAS) throw usageError(`${flag} ${n} is out of range; use 1-${MAX_REPLICAS}${flag === '--replicas' ? ' (rm removes a pod)' : ''}`);
  return n;
}

export const RESERVED_ENV = ['INSTANCE', 'PORT'] as const;

export function parseEnv(pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq === -1 ? pair : pair.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw usageError(`--env "${pair}": "${key}" is not a variable name; use --env KEY=VALUE`);
    if (eq === -1) throw usageError(`--env "${pair}" has no value; use --env ${key}=VALUE`);
    if ((RESERVED_ENV as readonly string[]).includes(key)) {
      throw usageError(`--env ${key} is set by reuseport-pod for each replica (${RESERVED_ENV.join(', ')}); drop it`);
    }
    env[key] = pair.slice(eq + 1);
  }
  return env;
}

export function parseSeconds(raw: unknown, flag: string, max = 3600): number {
  const text = String(raw ?? '').trim();
  if (!/^\d+$/.test(text) || Number(text) > max) throw usageError(`${flag} "${text}" is not a whole number of seconds from 0 to ${max}`);
  return Number(text);
}

export function formatPort(p: PortMapping): string {
  const ip = p.hostIp === undefined ? '' : p.hostIp.includes(':') ? `[${p.hostIp}]:` : `${p.hostIp}:`;
  return `${ip}${p.hostPort}:${p.containerPort}`;
}
