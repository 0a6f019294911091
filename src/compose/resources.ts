// The project's networks and named volumes, named and labelled as Compose names and labels them
// (`<project>_<key>`, com.docker.compose.*), so that a later `docker compose up` of the same
// project adopts what `up` made, and its containers reach the pods' replicas over the same network.
// Exactly Compose's labels and no label of ours: docker-compose 1.29 warns ("label ... has
// changed. It may need to be recreated") about any other label on a network it adopts.
import { usageError } from '../errors.ts';
import { isObj, type Obj } from './words.ts';

/** What `up` makes when it is missing (external ones must exist: they are only named). */
export interface ProjectResource {
  /** The key in the file (`default`, `data`). */
  key: string;
  /** The engine's name (`<project>_default`, or the `name:` the file gives). */
  name: string;
  external: boolean;
  labels: Record<string, string>;
}

const NETWORK_KEYS = new Set(['name', 'external', 'driver', 'labels']);
const VOLUME_KEYS = new Set(['name', 'external', 'labels']);

function labelsOf(v: unknown, where: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, val]) => [k, String(val ?? '')]));
  if (Array.isArray(v)) return Object.fromEntries(v.map(String).map((p) => [p.split('=')[0] ?? p, p.includes('=') ? p.slice(p.indexOf('=') + 1) : '']));
  throw usageError(`${where}.labels is neither a list nor a mapping`);
}

/** v1 prints `external: true` with the name beside it; older files wrote `external: {name: X}`. */
function externalName(top: Obj): string | undefined {
  const ext = top['external'];
  if (isObj(ext)) return typeof ext['name'] === 'string' ? ext['name'] : undefined;
  return ext === true ? (typeof top['name'] === 'string' ? top['name'] : undefined) : undefined;
}

function resource(kind: 'network' | 'volume', project: string, key: string, top: unknown, composeVersion: string): ProjectResource {
  const where = `${kind}s.${key}`;
  const def: Obj = isObj(top) ? top : {};
  const allowed = kind === 'network' ? NETWORK_KEYS : VOLUME_KEYS;
  for (const k of Object.keys(def)) {
    if (k.startsWith('x-') || allowed.has(k)) continue;
    throw usageError(`${where}.${k}: \`up\` makes ${kind}s with the engine's defaults and cannot honour ${k}; create the ${kind} yourself and declare it external: true`);
  }
  if (kind === 'network' && def['driver'] !== undefined && def['driver'] !== 'bridge') {
    throw usageError(`${where}.driver: ${String(def['driver'])} is not bridge, the only driver \`up\` makes networks with; create it yourself and declare it external: true`);
  }
  const external = def['external'] === true || isObj(def['external']);
  const name = external ? (externalName(def) ?? key) : typeof def['name'] === 'string' ? def['name'] : `${project}_${key}`;
  const labels = {
    ...labelsOf(def['labels'], where),
    'com.docker.compose.project': project,
    [`com.docker.compose.${kind}`]: key,
    'com.docker.compose.version': composeVersion,
  };
  return { key, name, external, labels };
}

export class ProjectResources {
  readonly networks = new Map<string, ProjectResource>();
  readonly volumes = new Map<string, ProjectResource>();

  private readonly project: string;
  private readonly model: Obj;
  private readonly composeVersion: string;

  constructor(project: string, model: Obj, composeVersion: string) {
    this.project = project;
    this.model = model;
    this.composeVersion = composeVersion;
  }

  /** The network a service's key names; `default` needs no declaration, as in Compose. */
  network(key: string, where: string): ProjectResource {
    const declared = isObj(this.model['networks']) ? (this.model['networks'] as Obj) : {};
    if (!(key in declared) && key !== 'default') throw usageError(`${where}: network "${key}" is not declared under the top-level networks`);
    const found = this.networks.get(key) ?? resource('network', this.project, key, declared[key], this.composeVersion);
    this.networks.set(key, found);
    return found;
  }

  volume(key: string, where: string): ProjectResource {
    const declared = isObj(this.model['volumes']) ? (this.model['volumes'] as Obj) : {};
    if (!(key in declared)) throw usageError(`${where}: volume "${key}" is not declared under the top-level volumes`);
    const found = this.volumes.get(key) ?? resource('volume', this.project, key, declared[key], this.composeVersion);
    this.volumes.set(key, found);
    return found;
  }
}
