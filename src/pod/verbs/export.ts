// export: the pod as files for other orchestrators, in the shape its mode gives it.
// - reuseport (replicas share one namespace): a Kubernetes Pod *is* this tool's pod (its pause
//   container owns the network namespace, its containers share it), so the replicas become
//   containers of one Pod; Compose gets a sandbox service and replica services joining its namespace.
// - dnat (a namespace per replica, NAT rules in the sandbox's): Kubernetes gets N Pods of one
//   container behind the Service (kube-proxy writes the same kind of rules); Compose gets the
//   sandbox, one service per replica on a network with fixed addresses, and the NAT helper run once
//   in the sandbox's namespace with the rules naming those addresses. Sharing a namespace there
//   would leave all but one replica with EADDRINUSE.
// Rendering is a pure function of the recorded spec; readExportSource alone asks the engine.
import { createRequire } from 'node:module';
import type * as YAML from 'yaml';
import { DEFAULT_NAT_IMAGE, DEFAULT_SANDBOX_IMAGE, packageVersion } from '../../package-info.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import { DNAT_SYSCTLS, natRuleSet } from '../modes/dnat.ts';
import { ExitCode, PodError, usageError } from '../../errors.ts';
import { networkName, replicaName, type StoredSpec } from '../model/names.ts';
import { requirePod, type ObservedPod } from '../state/observe.ts';
import { replicaConfig } from '../ops/replicas.ts';
import { formatPort, type PortMapping, isDnat } from '../model/spec.ts';
import { modeOf } from '../modes/index.ts';

// yaml takes about 20 ms to load and only `export` uses it: required on first use, so that every
// other command starts without it.
let yamlModule: typeof YAML | undefined;
const yaml = (): typeof YAML => (yamlModule ??= createRequire(import.meta.url)('yaml') as typeof YAML);

export const EXPORT_FORMATS = ['kubernetes', 'compose'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Everything an export needs: the desired spec and count, not what happens to run right now. */
export interface ExportSource {
  name: string;
  spec: StoredSpec;
  replicas: number;
  sandboxImage: string;
  /** A DNAT pod's network's IPv4 subnet: where the Compose file's fixed addresses come from. */
  subnet?: string;
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

/**
 * The pod as the engine records it, and for a DNAT pod exported to Compose its network's subnet:
 * addresses taken from it are free on this engine once the pod is removed, as its ports are.
 */
export async function readExportSource(runtime: Runtime, name: string, format: ExportFormat): Promise<ExportSource> {
  const source = exportSource(await requirePod(runtime, name));
  if (format === 'compose' && isDnat(source.spec)) {
    const subnet = await runtime.networkSubnet?.(networkName(name));
    if (subnet) source.subnet = subnet;
  }
  return source;
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
  if (!yaml().isSeq(node) && !yaml().isMap(node)) return;
  for (const item of node.items) {
    const scalar = kind === 'list' ? (yaml().isMap(item) ? item.get('value', true) : undefined) : (item as YAML.Pair<unknown, unknown>).value;
    if (yaml().isScalar(scalar)) scalar.type = 'QUOTE_DOUBLE';
  }
}

/** A comment on the line(s) above `key` in the map at `path`. */
function commentKey(doc: YAML.Document, path: Array<string | number>, key: string, text: string): void {
  const map = doc.getIn(path, true);
  if (!yaml().isMap(map)) return;
  const pair = map.items.find((p) => yaml().isScalar(p.key) && p.key.value === key);
  if (pair && yaml().isScalar(pair.key)) pair.key.commentBefore = text.split('\n').map((line) => ` ${line}`).join('\n');
}

// YAML 1.1, as Kubernetes (go-yaml) and docker-compose (PyYAML) read it: values such as `yes`,
// `on` or `2024-01-01` get quoted, so they stay strings. No anchors: the labels appear in several
// places and each must read as plain YAML.
const yamlDoc = (value: unknown): YAML.Document => new (yaml().Document)(value, { version: '1.1', aliasDuplicateObjects: false });

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
  const dnat = isDnat(source.spec);
  // dnat: one container per Pod, each Pod its own namespace, as each replica had here. Pods of a
  // Deployment are not numbered, so INSTANCE is each Pod's own name (the downward API).
  const containers = dnat
    ? [
        {
          name,
          image: source.spec.image,
          env: Object.entries(envOf(source, 1)).map(([key, value]) =>
            key === 'INSTANCE' ? { name: key, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } } : { name: key, value: escapeDollars(value) },
          ),
          ...(source.spec.ports.length > 0 ? { ports: containerPorts(source.spec) } : {}),
          securityContext: { allowPrivilegeEscalation: false },
        },
      ]
    : replicaNumbers(source.replicas).map((n) => ({
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
      replicas: dnat ? source.replicas : 1,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: source.spec.stopTimeout,
          // --mode host: the containers listen on the node's own ports, as the replicas did on the host's.
          ...(modeOf(source.spec).hostNamespace ? { hostNetwork: true } : {}),
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
  const dnat = isDnat(source.spec);
  (dep.getIn(['spec', 'replicas'], true) as YAML.Scalar).comment = dnat
    ? ' one Pod per replica of the pod (--mode dnat: each had a network namespace of its own)'
    : ' whole Pods, each with every container below; raise it to spread them over nodes';
  (dep.getIn(['spec', 'template', 'spec', 'terminationGracePeriodSeconds'], true) as YAML.Scalar).comment = " the pod's --stop-timeout: time to drain after SIGTERM";
  commentKey(
    dep,
    ['spec', 'template', 'spec', 'containers', 0],
    'ports',
    dnat
      ? "The server listens on these ports in its own Pod's network namespace: no SO_REUSEPORT needed."
      : 'The containers share one network namespace and all listen on these ports (SO_REUSEPORT);\ndeclared once, since the same port on two containers is a duplicate to Kubernetes.',
  );
  replicaNumbers(dnat ? 1 : source.replicas).forEach((_, i) => quoteEnvValues(dep, ['spec', 'template', 'spec', 'containers', i, 'env'], 'list'));

  const ports = source.spec.ports.map(formatPort).join(', ');
  const hostAddresses = source.spec.ports.some((p) => p.hostIp)
    ? [`The pod's host addresses (${[...new Set(source.spec.ports.map((p) => p.hostIp ?? '*'))].join(', ')}) do not carry over: a Service has none.`]
    : [];
  if (dnat) {
    return render(
      [svc, dep],
      [
        `Kubernetes manifest exported by reuseport-pod from pod "${source.name}" (${ports}, --mode dnat).`,
        `Apply: kubectl apply -f <this file>; the Service "${name}" answers on ${distinctHostPorts(source.spec.ports).map((p) => p.hostPort).join(', ')}.`,
        '',
        `The pod ran in --mode dnat: each replica had a network namespace of its own and NAT rules in`,
        `the sandbox's namespace spread new connections over them. In Kubernetes that is a Deployment`,
        `of ${source.replicas} Pod${source.replicas === 1 ? '' : 's'} with one container each behind this Service, whose rules (kube-proxy's) spread`,
        `connections the same way. The server needs no SO_REUSEPORT. INSTANCE is each Pod's own name`,
        `(Pods of a Deployment are not numbered); scale with kubectl scale deployment/${name} --replicas=N.`,
        '',
        `The image must be pullable by the cluster: push ${source.spec.image} to a registry it can reach.`,
        ...hostAddresses,
      ],
    );
  }
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
    ...hostAddresses,
    ...(modeOf(source.spec).hostNamespace
      ? [
          `The pod ran in --mode host, and so does this Pod (hostNetwork: true): its containers listen on`,
          `the node's own ports, so two such Pods cannot share a node. tcp_migrate_req is the node's`,
          `setting there (sysctl -w net.ipv4.tcp_migrate_req=1 on the node for lossless scale-down).`,
        ]
      : [
          `Not set: net.ipv4.tcp_migrate_req=1 (lossless scale-down here) is an unsafe sysctl to Kubernetes;`,
          `with the kubelet's --allowed-unsafe-sysctls=net.ipv4.tcp_migrate_req, add to the Pod spec:`,
          `  securityContext: { sysctls: [{ name: net.ipv4.tcp_migrate_req, value: "1" }] }`,
        ]),
  ];
  return render([svc, dep], header);
}

// ---------------------------------------------------------------------------------------------
// Compose

export const COMPOSE_SANDBOX = 'sandbox';
/** A DNAT pod's NAT helper, run once by Compose in the sandbox's namespace. */
export const COMPOSE_NAT = 'nat';

/** The n-th address of an IPv4 subnet (0 = the network's own address); undefined past its end. */
export function subnetAddress(subnet: string, n: number): string | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(subnet);
  if (!m) return undefined;
  const [a, b, c, d, bits] = m.slice(1).map(Number) as [number, number, number, number, number];
  if ([a, b, c, d].some((x) => x > 255) || bits < 8 || bits > 30) return undefined;
  const size = 2 ** (32 - bits);
  const base = Math.floor((((a * 256 + b) * 256 + c) * 256 + d) / size) * size;
  // The network's own address, the gateway (the first host) and broadcast are not for containers.
  if (n < 2 || n >= size - 1) return undefined;
  const ip = base + n;
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.');
}

/**
 * The Compose file of a DNAT pod. Compose cannot run a command after its containers got their
 * addresses, and the NAT rules must name them: so every container gets a fixed address on the
 * project's network (the subnet of the pod's own network), and the helper writes rules naming
 * those. The gateway takes the subnet's first address; the sandbox the next, replica n the n-th after.
 */
function composeDnatModel(source: ExportSource): Record<string, unknown> {
  const where = `pod "${source.name}" runs in --mode dnat, and a Compose file for it needs fixed addresses`;
  if (!source.subnet) {
    throw new PodError(`${where} from its network ${networkName(source.name)}, which is gone or has no IPv4 subnet; \`reuseport-pod repair ${source.name}\` re-creates it, or use --format kubernetes`, ExitCode.failure);
  }
  const sandboxAddress = subnetAddress(source.subnet, 2);
  const addresses = replicaNumbers(source.replicas).map((n) => subnetAddress(source.subnet ?? '', 2 + n));
  if (!sandboxAddress || addresses.some((a) => a === undefined)) {
    throw new PodError(`${where}, and its network's subnet ${source.subnet} has no room for the sandbox and ${source.replicas} replicas; use --format kubernetes`, ExitCode.failure);
  }
  const backends = replicaNumbers(source.replicas).map((n, i) => ({ name: replicaName(source.name, n), address: addresses[i] ?? '' }));
  const services: Record<string, unknown> = {
    [COMPOSE_SANDBOX]: {
      image: source.sandboxImage,
      ports: source.spec.ports.map(formatPort),
      // It forwards what it DNATs; no listener of its own, so tcp_migrate_req has nothing to move.
      sysctls: Object.fromEntries(Object.entries(DNAT_SYSCTLS).map(([k, v]) => [k, Number(v)])),
      read_only: true,
      cap_drop: ['ALL'],
      security_opt: ['no-new-privileges:true'],
      restart: 'unless-stopped',
      networks: { default: { ipv4_address: sandboxAddress } },
    },
  };
  for (const [i, b] of backends.entries()) {
    const env = envOf(source, i + 1);
    services[b.name] = {
      image: source.spec.image,
      environment: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, escapeDollars(v)])),
      stop_grace_period: `${source.spec.stopTimeout}s`,
      security_opt: ['no-new-privileges:true'],
      restart: 'unless-stopped',
      networks: { default: { ipv4_address: b.address } },
    };
  }
  services[COMPOSE_NAT] = {
    image: DEFAULT_NAT_IMAGE,
    network_mode: `service:${COMPOSE_SANDBOX}`,
    depends_on: [COMPOSE_SANDBOX, ...backends.map((b) => b.name)],
    command: ['apply'],
    environment: { RULES: escapeDollars(natRuleSet(source.spec, backends)) },
    read_only: true,
    cap_drop: ['ALL'],
    cap_add: ['NET_ADMIN'],
    security_opt: ['no-new-privileges:true'],
  };
  return { services, networks: { default: { ipam: { config: [{ subnet: source.subnet }] } } } };
}

/** --mode host: no namespace to own, so no sandbox; every replica on the host's stack. */
function composeHostModel(source: ExportSource): Record<string, unknown> {
  const services: Record<string, unknown> = {};
  for (const n of replicaNumbers(source.replicas)) {
    services[replicaName(source.name, n)] = {
      image: source.spec.image,
      network_mode: 'host',
      environment: Object.fromEntries(Object.entries(envOf(source, n)).map(([k, v]) => [k, escapeDollars(v)])),
      stop_grace_period: `${source.spec.stopTimeout}s`,
      security_opt: ['no-new-privileges:true'],
      restart: 'unless-stopped',
    };
  }
  return { services };
}

export function composeModel(source: ExportSource): Record<string, unknown> {
  if (isDnat(source.spec)) return composeDnatModel(source);
  if (modeOf(source.spec).hostNamespace) return composeHostModel(source);
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
  if (isDnat(source.spec)) {
    // One rule a line, as iptables-restore reads them (a quoted scalar would fold them).
    const rules = doc.getIn(['services', COMPOSE_NAT, 'environment', 'RULES'], true);
    if (yaml().isScalar(rules)) rules.type = 'BLOCK_LITERAL';
    return render(
      [doc],
      [
        `Compose file exported by reuseport-pod from pod "${source.name}" (--mode dnat).`,
        `Run: docker-compose -p ${source.name} -f <this file> up -d   (or docker compose ...)`,
        '',
        `The pod ran in --mode dnat, and so does this file: each replica service has a network namespace`,
        `of its own and listens normally (no SO_REUSEPORT needed); "sandbox" alone publishes the ports,`,
        `and "${COMPOSE_NAT}" runs once in the sandbox's namespace (NET_ADMIN, nothing else) to write the NAT`,
        `rules there (never on the host) that spread new connections over the replicas, then exits 0.`,
        `The rules name the replicas' addresses, so these are fixed: the subnet is the one the pod's`,
        `network ${networkName(source.name)} had (free on that engine once \`reuseport-pod rm ${source.name}\` removed it).`,
        `Where another network holds it (up says the pool overlaps), change the subnet and every address`,
        `below, RULES included. To add a replica, export again after \`reuseport-pod scale\`: the rules`,
        `list every replica.`,
        `After a restart of the sandbox (a fresh namespace, no rules): docker-compose -p ${source.name} start ${COMPOSE_NAT}.`,
        `The images must exist where it runs: ${[...new Set([source.sandboxImage, DEFAULT_NAT_IMAGE, source.spec.image])].join(', ')}.`,
      ],
    );
  }
  if (modeOf(source.spec).hostNamespace) {
    return render(
      [doc],
      [
        `Compose file exported by reuseport-pod from pod "${source.name}" (--mode host).`,
        `Run: docker-compose -p ${source.name} -f <this file> up -d   (or docker compose ...)`,
        '',
        `The pod ran in --mode host, and so does this file: every replica service runs in the host's`,
        `own network namespace (network_mode: host) and listens on port ${source.spec.ports.map((p) => p.containerPort).join(', ')} with SO_REUSEPORT, so`,
        `the kernel spreads connections across them with no NAT and no proxy. Nothing else may listen`,
        `on that port: a process of the same user with SO_REUSEPORT would take a share of the connections.`,
        `Scale-down is lossless only where the host sets net.ipv4.tcp_migrate_req=1.`,
      ],
    );
  }
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
