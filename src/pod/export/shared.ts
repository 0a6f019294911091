// What both exporters share: the source they render, the shape it takes, YAML helpers, and the
// pod's options read once into forms both targets can use (mounts, durations, sizes).
import YAML from 'yaml';
import { packageVersion } from '../../package-info.ts';
import type { NetworkNamespace } from '../../runtime/runtime.ts';
import type { StoredSpec } from '../model/names.ts';
import { OPTION_FLAGS, type ReplicaOptions } from '../model/options.ts';
import { replicaConfig } from '../ops/replicas.ts';
import type { PortMapping } from '../model/spec.ts';
import { modeOf } from '../modes/index.ts';

/** Everything an export needs: the desired spec and count, not what happens to run right now. */
export interface ExportSource {
  name: string;
  spec: StoredSpec;
  replicas: number;
  sandboxImage: string;
  /** A DNAT pod's network's IPv4 subnet: where the Compose file's fixed addresses come from. */
  subnet?: string;
}

/** Where the replicas' network namespaces are: the sandbox's (pod), their own on the pod's network, or the host's. */
export type Shape = NetworkNamespace['kind'];
export const shapeOf = (source: { name: string; spec: StoredSpec }): Shape => modeOf(source.spec).replicaNamespace(source.name).kind;

export const replicaNumbers = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/** The environment replica `n` gets from `create` and `scale` (user env, INSTANCE, PORT). */
export const envOf = (source: ExportSource, n: number): Record<string, string> => replicaConfig(source.name, n, source.spec, packageVersion).env;

// Kubernetes expands `$(VAR)` in env values, command and args, and Compose interpolates
// `${VAR}`/`$VAR` in every value; both read `$$` as a literal `$`. Doubling every `$` keeps the
// values exactly what the replicas get here.
export const escapeDollars = (value: string): string => value.replaceAll('$', '$$$$');

/** escapeDollars on every string value (not the keys: neither target interpolates those). */
export function escapeValues<T>(value: T): T {
  if (typeof value === 'string') return escapeDollars(value) as T;
  if (Array.isArray(value)) return value.map(escapeValues) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeValues(v)])) as T;
  return value;
}

/** A Service has no host address: of mappings sharing a host port on several addresses, the first is kept. */
export function distinctHostPorts(ports: PortMapping[]): PortMapping[] {
  const seen = new Set<number>();
  return ports.filter((p) => (seen.has(p.hostPort) ? false : (seen.add(p.hostPort), true)));
}

export const isLoopback = (ip: string | undefined): boolean => ip !== undefined && (ip === '::1' || ip.startsWith('127.'));

export function render(docs: YAML.Document[], header: string[]): string {
  const [first] = docs;
  if (first) first.commentBefore = header.map((line) => (line ? ` ${line}` : '')).join('\n');
  return docs.map((d) => d.toString({ lineWidth: 0 })).join('---\n');
}

/** Env values are the user's: always quoted, whatever a YAML reader might take them for. */
export function quoteEnvValues(doc: YAML.Document, path: Array<string | number>, kind: 'list' | 'map'): void {
  const node = doc.getIn(path, true);
  if (!YAML.isSeq(node) && !YAML.isMap(node)) return;
  for (const item of node.items) {
    const scalar = kind === 'list' ? (YAML.isMap(item) ? item.get('value', true) : undefined) : (item as YAML.Pair<unknown, unknown>).value;
    if (YAML.isScalar(scalar)) scalar.type = 'QUOTE_DOUBLE';
  }
}

/** A comment on the line(s) above `key` in the map at `path`, after any comment already there. */
export function commentKey(doc: YAML.Document, path: Array<string | number>, key: string, text: string): void {
  const map = doc.getIn(path, true);
  if (!YAML.isMap(map)) return;
  const pair = map.items.find((p) => YAML.isScalar(p.key) && p.key.value === key);
  if (!pair || !YAML.isScalar(pair.key)) throw new Error(`export: no key ${key} at ${path.join('.')} to comment on`);
  const lines = text.split('\n').map((line) => ` ${line}`).join('\n');
  pair.key.commentBefore = pair.key.commentBefore ? `${pair.key.commentBefore}\n${lines}` : lines;
}

/** A comment an exporter puts above `key` of the map it renders (a container, a service, a Pod spec). */
export interface Note {
  key: string;
  text: string;
}

export const applyNotes = (doc: YAML.Document, path: Array<string | number>, notes: Note[]): void => notes.forEach((n) => commentKey(doc, path, n.key, n.text));

// YAML 1.1, as Kubernetes (go-yaml) and docker-compose (PyYAML) read it: values such as `yes`,
// `on` or `2024-01-01` get quoted, so they stay strings. No anchors: the labels appear in several
// places and each must read as plain YAML.
export const yamlDoc = (value: unknown): YAML.Document => new YAML.Document(value, { version: '1.1', aliasDuplicateObjects: false });

// ---------------------------------------------------------------------------------------------
// The pod's options in forms both targets use

export const flagOf = (key: keyof ReplicaOptions): string => OPTION_FLAGS[key];

/** One mount of a replica, whichever flag gave it. */
export interface ExportMount {
  kind: 'bind' | 'volume' | 'anonymous' | 'tmpfs';
  /** A bind's absolute host path, or a volume's name. */
  source?: string;
  target: string;
  readOnly: boolean;
  /** tmpfs size (`size=` of --tmpfs, tmpfs-size of --mount). */
  sizeBytes?: number;
  /** What neither target field takes as is: -v's other modes (nocopy, z, rshared...), tmpfs options. */
  extra: string[];
  flag: string;
  /** --tmpfs's options as given, which Compose takes as they are. */
  options?: string;
}

/** `-v SRC:DST[:MODES]` or `-v DST`, as parseVolume stored it (a bind's source absolute). */
function fromVolume(spec: string): ExportMount {
  const parts = spec.split(':');
  if (parts.length === 1) return { kind: 'anonymous', target: spec, readOnly: false, extra: [], flag: flagOf('volumes') };
  const [source = '', target = '', modes = ''] = parts;
  const list = modes.split(',').filter(Boolean);
  return {
    kind: source.startsWith('/') ? 'bind' : 'volume',
    source,
    target,
    readOnly: list.includes('ro'),
    extra: list.filter((m) => m !== 'ro' && m !== 'rw'),
    flag: flagOf('volumes'),
  };
}

function fromMount(m: NonNullable<ReplicaOptions['mounts']>[number]): ExportMount {
  const kind = m.type === 'volume' && !m.source ? 'anonymous' : m.type;
  const mount: ExportMount = { kind, target: m.target, readOnly: m.readOnly === true, extra: [], flag: flagOf('mounts') };
  if (m.source) mount.source = m.source;
  if (m.tmpfsSizeBytes !== undefined) mount.sizeBytes = m.tmpfsSizeBytes;
  if (m.tmpfsMode !== undefined) mount.extra.push(`mode=${m.tmpfsMode.toString(8)}`);
  return mount;
}

const SIZE = /^(\d+)([kmg]?)$/i;
const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** `--tmpfs DST:OPTS`: size= and ro are fields in both targets; the rest (mode, noexec, uid...) is listed. */
function fromTmpfs(target: string, options: string): ExportMount {
  const mount: ExportMount = { kind: 'tmpfs', target, readOnly: false, extra: [], flag: flagOf('tmpfs'), options };
  for (const opt of options.split(',').filter(Boolean)) {
    const size = opt.startsWith('size=') ? SIZE.exec(opt.slice(5)) : null;
    if (size) mount.sizeBytes = Number(size[1]) * (SIZE_UNITS[(size[2] ?? '').toLowerCase()] ?? 1);
    else if (opt === 'ro') mount.readOnly = true;
    else if (opt !== 'rw') mount.extra.push(opt);
  }
  return mount;
}

export function mountsOf(o: ReplicaOptions): ExportMount[] {
  return [...(o.volumes ?? []).map(fromVolume), ...(o.mounts ?? []).map(fromMount), ...Object.entries(o.tmpfs ?? {}).map(([t, opts]) => fromTmpfs(t, opts))];
}

/** Bytes the way docker writes them (`512m`), or plain bytes when no unit divides them. */
export function dockerBytes(bytes: number): string | number {
  for (const [unit, size] of [['g', 1024 ** 3], ['m', 1024 ** 2], ['k', 1024]] as const) if (bytes % size === 0) return `${bytes / size}${unit}`;
  return bytes;
}

/** `--user` split into its parts: numbers are ids, anything else a name the image's /etc/passwd knows. */
export function userParts(user: string): { user: string; group?: string } {
  const colon = user.indexOf(':');
  return colon === -1 ? { user } : { user: user.slice(0, colon), group: user.slice(colon + 1) };
}

export const isId = (s: string | undefined): s is string => s !== undefined && /^\d+$/.test(s);

/** docker's health defaults, which the image's HEALTHCHECK and --health-* fill in when unset. */
export const DOCKER_HEALTH_DEFAULTS = { intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 };
