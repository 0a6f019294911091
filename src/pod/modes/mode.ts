// What differs between a pod's network modes, asked by the verbs, which never test which mode they
// hold (the way the kubelet's NetworkNamespaceForPod and Podman's NSMode make the mode a value).
// One file per mode implements it; index.ts is the one place that picks the file for a spec.
import type { ContainerStatus, Runtime } from '../../runtime/runtime.ts';
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
  /** The sandbox's sysctls besides tcp_migrate_req (which every mode asks for, and old kernels lack). */
  readonly sandboxSysctls: Record<string, string>;
  /** The network the sandbox is attached to; undefined: the engine's default. */
  sandboxNetwork(pod: string): string | undefined;
  /** Made before the sandbox; resolves with the network it made (for undo), if any. */
  prepare(ctx: PodContext, pod: string): Promise<string | undefined>;
  /** The network a replica gets a namespace of its own on; undefined: it joins the sandbox's namespace. */
  replicaNetwork(pod: string): string | undefined;
  /** Replicas in namespaces of their own are not stranded when the sandbox restarts. */
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
