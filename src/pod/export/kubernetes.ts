// Kubernetes: a Service and a Deployment, in the shape the pod's mode gives it (see
// src/pod/verbs/export.ts), with the replica options on every container and on the Pod.
import YAML from 'yaml';
import type { StoredSpec } from '../model/names.ts';
import { formatPort } from '../model/spec.ts';
import { kubernetesOptions, type KubernetesOptions } from './kubernetes-options.ts';
import { applyNotes, commentKey, distinctHostPorts, envOf, escapeDollars, isLoopback, quoteEnvValues, render, replicaNumbers, shapeOf, yamlDoc, type ExportSource } from './shared.ts';

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

/**
 * One container: the replica's image, env and options. Key order is a reader's: what runs, its
 * environment, its ports, then limits, mounts, privileges and the probe.
 */
function container(source: ExportSource, name: string, o: KubernetesOptions, own: { env: unknown[]; ports: boolean }): Record<string, unknown> {
  const { command, args, workingDir, ...rest } = o.container;
  return {
    name,
    image: source.spec.image,
    ...(command !== undefined ? { command } : {}),
    ...(args !== undefined ? { args } : {}),
    ...(workingDir !== undefined ? { workingDir } : {}),
    env: own.env,
    ...(own.ports && source.spec.ports.length > 0 ? { ports: containerPorts(source.spec) } : {}),
    ...(rest['resources'] !== undefined ? { resources: rest['resources'] } : {}),
    ...(rest['volumeMounts'] !== undefined ? { volumeMounts: rest['volumeMounts'] } : {}),
    securityContext: { allowPrivilegeEscalation: false, ...o.securityContext },
    ...(rest['readinessProbe'] !== undefined ? { readinessProbe: rest['readinessProbe'] } : {}),
  };
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
  const dnat = shapeOf(source) === 'network';
  // dnat: one container per Pod, each Pod its own namespace, as each replica had here. Pods of a
  // Deployment are not numbered, so INSTANCE is each Pod's own name (the downward API).
  const options = kubernetesOptions(source.spec.options);
  const containers = dnat
    ? [
        container(source, name, options, {
          env: Object.entries(envOf(source, 1)).map(([key, value]) =>
            key === 'INSTANCE' ? { name: key, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } } : { name: key, value: escapeDollars(value) },
          ),
          ports: true,
        }),
      ]
    : replicaNumbers(source.replicas).map((n) =>
        container(source, `${name}-${n}`, options, {
          env: Object.entries(envOf(source, n)).map(([key, value]) => ({ name: key, value: escapeDollars(value) })),
          ports: n === 1,
        }),
      );
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      replicas: dnat ? source.replicas : 1,
      selector: { matchLabels: selector },
      template: {
        // The user's labels first: ours select the Pods, and must win.
        metadata: { labels: { ...options.labels, ...labels }, ...(Object.keys(options.annotations).length > 0 ? { annotations: options.annotations } : {}) },
        spec: {
          terminationGracePeriodSeconds: source.spec.stopTimeout,
          // --mode host: the containers listen on the node's own ports, as the replicas did on the host's.
          ...(shapeOf(source) === 'host' ? { hostNetwork: true } : {}),
          containers,
          ...options.pod,
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
  const dnat = shapeOf(source) === 'network';
  (dep.getIn(['spec', 'replicas'], true) as YAML.Scalar).comment = dnat
    ? ' one Pod per replica of the pod (--mode dnat: each had a network namespace of its own)'
    : ' whole Pods, each with every container below; raise it to spread them over nodes';
  (dep.getIn(['spec', 'template', 'spec', 'terminationGracePeriodSeconds'], true) as YAML.Scalar).comment = " the pod's --stop-timeout: time to drain after SIGTERM";
  if (source.spec.ports.length > 0) commentKey(
    dep,
    ['spec', 'template', 'spec', 'containers', 0],
    'ports',
    dnat
      ? "The server listens on these ports in its own Pod's network namespace: no SO_REUSEPORT needed."
      : 'The containers share one network namespace and all listen on these ports (SO_REUSEPORT);\ndeclared once, since the same port on two containers is a duplicate to Kubernetes.',
  );
  replicaNumbers(dnat ? 1 : source.replicas).forEach((_, i) => quoteEnvValues(dep, ['spec', 'template', 'spec', 'containers', i, 'env'], 'list'));
  // What Kubernetes cannot say, next to where it would be: once, on the first container (all are alike).
  const options = kubernetesOptions(source.spec.options);
  applyNotes(dep, ['spec', 'template', 'spec', 'containers', 0], options.containerNotes);
  applyNotes(dep, ['spec', 'template', 'spec'], options.podNotes);
  applyNotes(dep, ['spec', 'template'], options.templateNotes);

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
    ...(shapeOf(source) === 'host'
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

