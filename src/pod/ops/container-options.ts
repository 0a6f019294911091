// A pod's options as engine configs: what each replica's process gets, and what goes on the
// network namespace. The namespace's part (networks, /etc/hosts lines, resolvers) goes to whoever
// owns the namespace: the sandbox when the replicas share its namespace (Docker refuses --dns and
// --add-host on a `container:` member), else each replica.
import type { ContainerOptions, NamespaceOptions, NetworkNamespace } from '../../runtime/runtime.ts';
import type { ReplicaOptions } from '../model/options.ts';

export function containerOptions(o: ReplicaOptions | undefined): ContainerOptions | undefined {
  if (!o) return undefined;
  const out: ContainerOptions = {};
  if (o.user !== undefined) out.user = o.user;
  if (o.workdir !== undefined) out.workdir = o.workdir;
  if (o.entrypoint !== undefined) out.entrypoint = o.entrypoint;
  if (o.command !== undefined) out.command = o.command;
  if (o.volumes?.length) out.binds = o.volumes;
  if (o.mounts?.length) out.mounts = o.mounts;
  if (o.tmpfs && Object.keys(o.tmpfs).length) out.tmpfs = o.tmpfs;
  if (o.memoryBytes !== undefined) out.memoryBytes = o.memoryBytes;
  if (o.nanoCpus !== undefined) out.nanoCpus = o.nanoCpus;
  if (o.pidsLimit !== undefined) out.pidsLimit = o.pidsLimit;
  if (o.readOnly) out.readOnly = true;
  if (o.capAdd?.length) out.capAdd = o.capAdd;
  if (o.capDrop?.length) out.capDrop = o.capDrop;
  if (o.health) out.health = o.health;
  if (o.stopSignal !== undefined) out.stopSignal = o.stopSignal;
  return Object.keys(out).length > 0 ? out : undefined;
}

export function namespaceOptions(o: ReplicaOptions | undefined, networks: string[] = o?.networks ?? []): NamespaceOptions | undefined {
  const out: NamespaceOptions = {};
  if (networks.length) out.networks = networks;
  if (o?.networkAliases?.length) out.aliases = o.networkAliases;
  if (o?.addHosts?.length) out.extraHosts = o.addHosts;
  if (o?.dns?.length) out.dns = o.dns;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Who owns the namespace the replicas listen in: the sandbox (they share it), or each replica. */
export const sandboxOwnsNamespace = (replicaNamespace: NetworkNamespace): boolean => replicaNamespace.kind === 'pod';
