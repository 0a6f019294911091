// export: the pod as files for other orchestrators. A Kubernetes Pod *is* this tool's pod (its
// pause container owns the network namespace, its containers share it), so the replicas become
// containers of one Pod; Compose gets a sandbox service and replica services joining its namespace.
// Pure functions of the recorded spec: nothing here talks to an engine.
import YAML from 'yaml';
import { DEFAULT_SANDBOX_IMAGE, packageVersion } from '../package-info.ts';
import { ExitCode, PodError, usageError } from './errors.ts';
import { replicaName, type StoredSpec } from './names.ts';
import type { ObservedPod } from './observe.ts';
import { replicaConfig } from './replicas.ts';
import { formatPort, type PortMapping } from './spec.ts';

export const EXPORT_FORMATS = ['kubernetes', 'compose'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Everything an export needs: the desired spec and count, not what happens to run right now. */
export interface ExportSource {
  name: string;
  spec: StoredSpec;
  replicas: number;
  sandboxImage: string;
}

export function exportSource(pod: ObservedPod): ExportSource {
  if (!pod.spec) {
    throw new PodError(`pod "${pod.name}" has no recorded spec (its sandbox and state records are gone); \`reuseport-pod rm ${pod.name}\` and create it again`, ExitCode.failure);
  }
  // The sandbox's image as the engine reports it: an image id when its tag has moved on since.
  const image = pod.sandbox?.image;
  const sandboxImage = image && !/^(sha256:)?[0-9a-f]{12,64}$/.test(image) ? image : DEFAULT_SANDBOX_IMAGE;
  return { name: pod.name, spec: pod.spec, replicas: Math.max(1, pod.desired), sandboxImage };
}

export function parseExportFormat(raw: unknown): ExportFormat {
  const format = String(raw ?? '');
  if ((EXPORT_FORMATS as readonly string[]).includes(format)) return format as ExportFormat;
  throw usageError(`--format "${format}" is not known; use ${EXPORT_FORMATS.join(' or ')}`);
}

export function exportPod(source: ExportSource, format: ExportFormat): string {
  return format === 'kubernetes' ? kubernetesYaml(source) : composeYaml(source);
}

// ---------------------------------------------------------------------------------------------
// Shared

const replicaNumbers = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/** The environment replica `n` gets from `create` and `scale` (user env, INSTANCE, PORT). */
const envOf = (source: ExportSource, n: number): Record<string, string> => replicaConfig(source.name, n, source.spec, packageVersion).env;

// Kubernetes expands `$(VAR)` in env values and Compose interpolates `${VAR}`/`$VAR`; both read
// `$$` as a literal `$`. Doubling every `$` keeps the values exactly what the replicas get here.
export const escapeDollars = (value: string): string => value.replaceAll('$', '$$$$');

/** A Service has no host address: of mappings sharing a host port on several addresses, the first is kept. */
function distinctHostPorts(ports: PortMapping[]): PortMapping[] {
  const seen = new Set<number>();
  return ports.filter((p) => (seen.has(p.hostPort) ? false : (seen.add(p.hostPort), true)));
}

const isLoopback = (ip: string | undefined): boolean => ip !== undefined && (ip === '::1' || ip.startsWith('127.'));

function render(docs: YAML.Document[], header: string[]): string {
  const [first] = docs;
  if (first) first.commentBefore = header.map((line) => (line ? ` ${line}` : '')).join('\n');
  return docs.map((d) => d.toString({ lineWidth: 0 })).join('---\n');
}

/** Env values are the user's: always quoted, whatever a YAML reader might take them for. */
function quoteEnvValues(doc: YAML.Document, path: Array<string | number>, kind: 'list' | 'map'): void {
  const node = doc.getIn(path, true);
  if (!YAML.isSeq(node) && !YAML.isMap(node)) return;
  for (const item of node.items) {
    const scalar = kind === 'list' ? (YAML.isMap(item) ? item.get('value', true) : undefined) : (item as YAML.Pair<unknown, unknown>).value;
    if (YAML.isScalar(scalar)) scalar.type = 'QUOTE_DOUBLE';
  }
}

/** A comment on the line(s) above `key` in the map at `path`. */
function commentKey(doc: YAML.Document, path: Array<string | number>, key: string, text: string): void {
  const map = doc.getIn(path, true);
  if (!YAML.isMap(map)) return;
  const pair = map.items.find((p) => YAML.isScalar(p.key) && p.key.value === key);
  if (pair && YAML.isScalar(pair.key)) pair.key.commentBefore = text.split('\n').map((line) => ` ${line}`).join('\n');
}

// YAML 1.1, as Kubernetes (go-yaml) and docker-compose (PyYAML) read it: values such as `yes`,
// `on` or `2024-01-01` get quoted, so they stay strings. No anchors: the labels appear in several
// places and each must read as plain YAML.
const yamlDoc = (value: unknown): YAML.Document => new YAML.Document(value, { version: '1.1', aliasDuplicateObjects: false });

// ---------------------------------------------------------------------------------------------
// Kubernetes

const DNS_LABEL_MAX = 63;

/**
 * The pod's name as a Kubernetes object name: a DNS-1035 label (Services need one: lowercase
 * letters, digits and "-", starting with a letter). Our names may also hold "_" and "." or start
 * with a digit.
 */
export function kubernetesName(pod: string): string {
  let name = pod.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-+|-+$/g, '');
  if (!/^[a-z]/.test(name)) name = `rp-${name}`.replace(/-+$/, '');
  // "-100" must still fit for the containers' names.
  return name.slice(0, DNS_LABEL_MAX - 4).replace(/-+$/, '');
}

export interface KubernetesManifest {
  service: Record<string, unknown>;
  deployment: Record<string, unknown>;
}

/** One port declaration per distinct container port, on the first container (see the comment). */
function containerPorts(spec: StoredSpec): Array<{ containerPort: number; protocol: 'TCP' }> {
  const ports = [...new Set(spec.ports.map((p) => p.containerPort))];
  return ports.map((containerPort) => ({ containerPort, protocol: 'TCP' }));
}

/** ClusterIP when every mapping is loopback-only (reachable from this host only); else LoadBalancer. */
export function serviceType(spec: StoredSpec): 'ClusterIP' | 'LoadBalancer' {
  return spec.ports.length > 0 && spec.ports.every((p) => isLoopback(p.hostIp)) ? 'ClusterIP' : 'LoadBalancer';
}

export function kubernetesManifest(source: ExportSource): KubernetesManifest {
  const name = kubernetesName(source.name);
  const labels = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'reuseport-pod' };
  const selector = { 'app.kubernetes.io/name': name };
  const hostPorts = distinctHostPorts(source.spec.ports);
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, labels },
    spec: {
      type: serviceType(source.spec),
      selector,
      ports: hostPorts.map((p) => ({
        // A Service with several ports needs a name on each.
        name: `tcp-${p.hostPort}`,
        protocol: 'TCP',
        port: p.hostPort,
        targetPort: p.containerPort,
      })),
    },
  };
  const containers = replicaNumbers(source.replicas).map((n) => ({
    name: `${name}-${n}`,
    image: source.spec.image,
    env: Object.entries(envOf(source, n)).map(([key, value]) => ({ name: key, value: escapeDollars(value) })),
    ...(n === 1 && source.spec.ports.length > 0 ? { ports: containerPorts(source.spec) } : {}),
    securityContext: { allowPrivilegeEscalation: false },
  }));
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: source.spec.stopTimeout,
          containers,
        },
      },
    },
  };
  return { service, deployment };
}

export function kubernetesYaml(source: ExportSource): string {
  const { service, deployment } = kubernetesManifest(source);
  const name = kubernetesName(source.name);
  const type = serviceType(source.spec);
  const svc = yamlDoc(service);
  commentKey(
    svc,
    ['spec'],
    'type',
    type === 'ClusterIP'
      ? 'ClusterIP: the pod published its ports on loopback only, so the Service stays inside the\ncluster. (NodePort could not keep the port numbers: it takes only 30000-32767.)'
      : 'LoadBalancer: like `docker run -p`, reachable from outside on the same port numbers (on\nclusters without a load balancer it still gets a cluster IP and a node port). NodePort\ncould not keep the port numbers: it takes only 30000-32767.',
  );
  const dep = yamlDoc(deployment);
  (dep.getIn(['spec', 'replicas'], true) as YAML.Scalar).comment = ' whole Pods, each with every container below; raise it to spread them over nodes';
  (dep.getIn(['spec', 'template', 'spec', 'terminationGracePeriodSeconds'], true) as YAML.Scalar).comment = " the pod's --stop-timeout: time to drain after SIGTERM";
  commentKey(
    dep,
    ['spec', 'template', 'spec', 'containers', 0],
    'ports',
    'The containers share one network namespace and all listen on these ports (SO_REUSEPORT);\ndeclared once, since the same port on two containers is a duplicate to Kubernetes.',
  );
  replicaNumbers(source.replicas).forEach((_, i) => quoteEnvValues(dep, ['spec', 'template', 'spec', 'containers', i, 'env'], 'list'));

  const ports = source.spec.ports.map(formatPort).join(', ');
  const header = [
    `Kubernetes manifest exported by reuseport-pod from pod "${source.name}" (${ports}).`,
    `Apply: kubectl apply -f <this file>; the Service "${name}" answers on ${distinctHostPorts(source.spec.ports).map((p) => p.hostPort).join(', ')}.`,
    '',
    `A Kubernetes Pod is what reuseport-pod builds on Docker: its pause container owns the network`,
    `namespace and the containers below (${source.replicas === 1 ? `${name}-1` : `${name}-1..${name}-${source.replicas}`}) share it, each listening on the same`,
    `port with SO_REUSEPORT, so the kernel spreads connections across them inside the Pod.`,
    `Across nodes: the Deployment's replicas (1 here) counts whole Pods; raise it (kubectl scale`,
    `deployment/${name} --replicas=3) and the Service balances between Pods, the kernel within each.`,
    `Containers per Pod are fixed by this file: export again after \`reuseport-pod scale\`.`,
    '',
    `The image must set SO_REUSEPORT before bind() (without it only one container can listen and`,
    `the others exit with EADDRINUSE), run as one user in every container, and be pullable by the`,
    `cluster: push ${source.spec.image} to a registry it can reach.`,
    ...(source.spec.ports.some((p) => p.hostIp)
      ? [`The pod's host addresses (${[...new Set(source.spec.ports.map((p) => p.hostIp ?? '*'))].join(', ')}) do not carry over: a Service has none.`]
      : []),
    `Not set: net.ipv4.tcp_migrate_req=1 (lossless scale-down here) is an unsafe sysctl to Kubernetes;`,
    `with the kubelet's --allowed-unsafe-sysctls=net.ipv4.tcp_migrate_req, add to the Pod spec:`,
    `  securityContext: { sysctls: [{ name: net.ipv4.tcp_migrate_req, value: "1" }] }`,
  ];
  return render([svc, dep], header);
}

// ---------------------------------------------------------------------------------------------
// Compose

export const COMPOSE_SANDBOX = 'sandbox';

export function composeModel(source: ExportSource): Record<string, unknown> {
  const services: Record<string, unknown> = {
    [COMPOSE_SANDBOX]: {
      image: source.sandboxImage,
      ports: source.spec.ports.map(formatPort),
      sysctls: { 'net.ipv4.tcp_migrate_req': 1 },
      read_only: true,
      cap_drop: ['ALL'],
      security_opt: ['no-new-privileges:true'],
      restart: 'unless-stopped',
    },
  };
  for (const n of replicaNumbers(source.replicas)) {
    const env = envOf(source, n);
    services[replicaName(source.name, n)] = {
      image: source.spec.image,
      network_mode: `service:${COMPOSE_SANDBOX}`,
      depends_on: [COMPOSE_SANDBOX],
      environment: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, escapeDollars(v)])),
      stop_grace_period: `${source.spec.stopTimeout}s`,
      security_opt: ['no-new-privileges:true'],
      restart: 'unless-stopped',
    };
  }
  return { services };
}

export function composeYaml(source: ExportSource): string {
  const doc = yamlDoc(composeModel(source));
  for (const n of replicaNumbers(source.replicas)) quoteEnvValues(doc, ['services', replicaName(source.name, n), 'environment'], 'map');
  const header = [
    `Compose file exported by reuseport-pod from pod "${source.name}".`,
    `Run: docker-compose -p ${source.name} -f <this file> up -d   (or docker compose ...)`,
    '',
    `"sandbox" owns the network namespace and publishes the ports; each replica service joins it`,
    `(network_mode: service:sandbox) and listens on the same port with SO_REUSEPORT, so the kernel`,
    `spreads connections across them. The image must set SO_REUSEPORT before bind(), and every`,
    `replica must run as the same user. One service per replica, because each gets its own INSTANCE;`,
    `to add one, copy the last and raise the number. Compose does not repair replicas stranded`,
    `by a sandbox restart (moby#24935): \`docker-compose restart\` the replicas after one.`,
    `Across machines: Compose stays on one; \`reuseport-pod export ${source.name} --format kubernetes\``,
    `gives a Deployment whose replicas spread such pods over nodes.`,
  ];
  return render([doc], header);
}
