// Compose: a sandbox service and a service per replica, in the shape the pod's mode gives it (see
// src/pod/verbs/export.ts), with the replica options on every replica service and the namespace's
// (networks, extra_hosts, dns) on whoever owns the namespace.
import YAML from 'yaml';
import { DEFAULT_NAT_IMAGE } from '../../package-info.ts';
import { ExitCode, PodError } from '../../errors.ts';
import { DNAT_SYSCTLS, natRuleSet } from '../modes/dnat.ts';
import { networkName, replicaName } from '../model/names.ts';
import { formatPort } from '../model/spec.ts';
import { composeOptions, type ComposeOptions } from './compose-options.ts';
import { UP_FIELD, upField } from './compose-up.ts';
import { projectOf } from '../model/project.ts';
import { applyNotes, envOf, escapeDollars, escapeValues, quoteEnvValues, render, replicaNumbers, shapeOf, yamlDoc, type ExportSource } from './shared.ts';

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
function composeDnatModel(source: ExportSource, o: ComposeOptions): Record<string, unknown> {
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
      ...o.service,
      stop_grace_period: `${source.spec.stopTimeout}s`,
      security_opt: ['no-new-privileges:true'],
      restart: 'unless-stopped',
      // Each replica owns its namespace here: the pod's networks and resolver settings are its own.
      networks: { default: { ipv4_address: b.address }, ...joinedNetworks(o) },
      ...o.namespace.keys,
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
  return { services, networks: { default: { ipam: { config: [{ subnet: source.subnet }] } }, ...o.networks } };
}

/** The networks the namespace's owner joins, with its --network-alias names on each. */
const joinedNetworks = (o: ComposeOptions): Record<string, unknown> =>
  Object.fromEntries(o.namespace.networks.map((n) => [n, o.namespace.aliases.length > 0 ? { aliases: escapeValues(o.namespace.aliases) } : {}]));

/** --mode host: no namespace to own, so no sandbox; every replica on the host's stack. */
function composeHostModel(source: ExportSource, o: ComposeOptions): Record<string, unknown> {
  const services: Record<string, unknown> = {};
  for (const n of replicaNumbers(source.replicas)) {
    services[replicaName(source.name, n)] = {
      image: source.spec.image,
      network_mode: 'host',
      environment: Object.fromEntries(Object.entries(envOf(source, n)).map(([k, v]) => [k, escapeDollars(v)])),
      ...o.service,
      ...o.namespace.keys,
      stop_grace_period: `${source.spec.stopTimeout}s`,
      security_opt: ['no-new-privileges:true'],
      restart: 'unless-stopped',
    };
  }
  return { services };
}

export function composeModel(source: ExportSource): Record<string, unknown> {
  const shape = shapeOf(source);
  const o = composeOptions(source.spec.options, shape);
  const model = shape === 'network' ? composeDnatModel(source, o) : shape === 'host' ? composeHostModel(source, o) : composeSharedModel(source, o);
  return withTopLevel(withUpField(model, source), o);
}

/**
 * Every service made for the pod names it in UP_FIELD, so that `up` skips them; the first (the
 * sandbox, or replica 1 without one) also holds the pod as the one service `up` makes it from.
 */
function withUpField(model: Record<string, unknown>, source: ExportSource): Record<string, unknown> {
  const services = model['services'] as Record<string, Record<string, unknown>>;
  const names = Object.keys(services);
  const head = services[COMPOSE_SANDBOX] ? COMPOSE_SANDBOX : names[0];
  const marked = Object.fromEntries(names.map((n) => [n, { ...services[n], [UP_FIELD]: n === head ? upField(source.name, source.spec, source.replicas) : { pod: source.name } }]));
  return { ...model, services: marked };
}

/** The header's lines on taking the file back with `up`. */
function upLines(source: ExportSource): string[] {
  const field = upField(source.name, source.spec, source.replicas);
  if (field.refused) return ['', `\`reuseport-pod up\` cannot take this file back: ${field.refused}.`];
  const project = projectOf(source.spec);
  return [
    '',
    `\`reuseport-pod up -p PROJECT -f <this file>\` takes it back as the pod PROJECT-${field.service}${project ? ` (-p ${project}: this pod)` : ''}: it reads`,
    `the pod from ${UP_FIELD} on "${COMPOSE_SANDBOX}" and skips the services made from it; Compose ignores x- fields.`,
  ];
}

/** Top-level volumes and networks the options declare, after those the shape has. */
function withTopLevel(model: Record<string, unknown>, o: ComposeOptions): Record<string, unknown> {
  const networks = { ...(model['networks'] as Record<string, unknown> | undefined), ...o.networks };
  return {
    ...model,
    ...(Object.keys(o.volumes).length > 0 ? { volumes: o.volumes } : {}),
    ...(Object.keys(networks).length > 0 ? { networks } : {}),
  };
}

/** The default shape: replicas in the sandbox's namespace, so the namespace's options are the sandbox's. */
function composeSharedModel(source: ExportSource, o: ComposeOptions): Record<string, unknown> {
  const services: Record<string, unknown> = {
    [COMPOSE_SANDBOX]: {
      image: source.sandboxImage,
      ports: source.spec.ports.map(formatPort),
      sysctls: { 'net.ipv4.tcp_migrate_req': 1 },
      read_only: true,
      cap_drop: ['ALL'],
      security_opt: ['no-new-privileges:true'],
      restart: 'unless-stopped',
      // It stays on the project's network (its ports are published there) and joins the pod's.
      ...(o.namespace.networks.length > 0 ? { networks: o.namespace.aliases.length > 0 ? { default: {}, ...joinedNetworks(o) } : ['default', ...o.namespace.networks] } : {}),
      ...o.namespace.keys,
    },
  };
  for (const n of replicaNumbers(source.replicas)) {
    const env = envOf(source, n);
    services[replicaName(source.name, n)] = {
      image: source.spec.image,
      network_mode: `service:${COMPOSE_SANDBOX}`,
      depends_on: [COMPOSE_SANDBOX],
      environment: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, escapeDollars(v)])),
      ...o.service,
      stop_grace_period: `${source.spec.stopTimeout}s`,
      security_opt: ['no-new-privileges:true'],
      restart: 'unless-stopped',
    };
  }
  return { services };
}

/** Comments for what Compose cannot say, once, on the first service that has the option. */
function annotate(doc: YAML.Document, source: ExportSource): void {
  const shape = shapeOf(source);
  const o = composeOptions(source.spec.options, shape);
  const first = ['services', replicaName(source.name, 1)];
  applyNotes(doc, first, o.serviceNotes);
  applyNotes(doc, shape === 'pod' ? ['services', COMPOSE_SANDBOX] : first, o.namespaceNotes);
  applyNotes(doc, [], o.topNotes);
}

export function composeYaml(source: ExportSource): string {
  const doc = yamlDoc(composeModel(source));
  for (const n of replicaNumbers(source.replicas)) quoteEnvValues(doc, ['services', replicaName(source.name, n), 'environment'], 'map');
  annotate(doc, source);
  const shape = shapeOf(source);
  if (shape === 'network') {
    // One rule a line, as iptables-restore reads them (a quoted scalar would fold them).
    const rules = doc.getIn(['services', COMPOSE_NAT, 'environment', 'RULES'], true);
    if (YAML.isScalar(rules)) rules.type = 'BLOCK_LITERAL';
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
        ...upLines(source),
      ],
    );
  }
  if (shape === 'host') {
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
        ...upLines(source),
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
    ...upLines(source),
  ];
  return render([doc], header);
}
