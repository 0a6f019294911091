// What differs between a pod's network modes, asked by the verbs, which never test which mode they
// hold (the way the kubelet's NetworkNamespaceForPod and Podman's NSMode make the mode a value).
// One file per mode implements it; index.ts is the one place that picks the file for a spec.
import type { ContainerStatus, NetworkNamespace, Runtime } from '../../runtime/runtime.ts';
import type { PodContext } from '../context.ts';
import type { StoredSpec } from '../model/names.ts';
import type { PodMode } from '../model/spec.ts';

export interface StartedReplica {
  n: number;
  id: string;
  name: string;
}

export interface ReadyWait {
  pod: string;
  sandboxId: string;
  /** Listeners the pod has in all once the started replicas listen. */
  expected: number;
  started: StartedReplica[];
  timeoutMs: number;
}

export interface NetworkMode {
  readonly name: PodMode;
  /** create: refuses an engine that cannot run this mode, before anything is made. */
  checkEngine(runtime: Runtime): void;
  /** create: images this mode needs beyond the app's and the sandbox's. */
  ensureImages(ctx: PodContext): Promise<void>;
  /** The sandbox's namespaced sysctls (old kernels lack tcp_migrate_req: the sandbox then goes without it). */
  readonly sandboxSysctls: Record<string, string>;
  /** The sandbox's namespace; undefined: one on the engine's default network. */
  sandboxNamespace(pod: string): Exclude<NetworkNamespace, { kind: 'pod' }> | undefined;
  /** The sandbox publishes the pod's ports (host mode has no namespace of its own to publish from). */
  readonly publishes: boolean;
  /**
   * Replicas listen in the host's own namespace: a port is one number, and what the host's sysctls
   * are is what the pod gets (create says so when tcp_migrate_req is not 1 there).
   */
  readonly hostNamespace: boolean;
  /** Checked once the sandbox runs, before any replica starts; throws what refuses the pod. */
  afterSandbox(ctx: PodContext, spec: StoredSpec, sandboxId: string): Promise<void>;
  /** Made before the sandbox; resolves with the network it made (for undo), if any. */
  prepare(ctx: PodContext, pod: string): Promise<string | undefined>;
  /** Where a replica's namespace comes from. */
  replicaNamespace(pod: string): NetworkNamespace;
  /** Replicas in namespaces other than the sandbox's are not stranded when the sandbox restarts. */
  readonly ownNamespaces: boolean;
  /** Resolves once the started replicas serve; rejects naming the ones that do not. */
  waitReady(ctx: PodContext, spec: StoredSpec, wait: ReadyWait): Promise<void>;
  /** What repair must wait for: the replicas it started, and those it restarted if that moved them. */
  mustProbe(added: StartedReplica[], restarted: StartedReplica[]): StartedReplica[];
  /** Puts the running replicas except `leaving` (ids) in the balance; resolves with the rules in force (none: []). */
  balance(ctx: PodContext, pod: string, sandboxId: string, spec: StoredSpec, leaving?: string[]): Promise<string[]>;
  /** repair: the balance is lost while every replica looks healthy (a restarted sandbox has no rules). */
  balanceLost(ctx: PodContext, pod: string, sandboxId: string): Promise<boolean>;
  /** repair's words for a rewritten balance. */
  balanceAction(rules: string[]): string;
  /** supervise: an engine event on the pod calls for repair's look even when health looks fine. */
  readonly recheckOnEvents: boolean;
  /** ls/ps: how many of the running replicas new connections reach, and the rules to show (if the mode has any). */
  reachable(ctx: PodContext, pod: string, sandboxId: string, spec: StoredSpec | undefined, running: ContainerStatus[]): Promise<{ ready: number; rules?: string[] }>;
  /** inspect: what a replica's entry adds. */
  replicaDetails(pod: string, status: ContainerStatus): Record<string, unknown>;
}
