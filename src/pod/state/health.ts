// Is each replica really serving? Docker says "Up" for a replica whose sandbox restarted, yet that
// replica sits in the old, empty network namespace (moby#24935). Two facts from inspect tell it:
// a replica joined the namespace the sandbox had when the replica last started, so one that
// started before the sandbox's current start is stranded; and one whose NetworkMode names another
// sandbox id was joined to a sandbox that has since been re-created. Where the engine runs on this
// host, the namespace identities (/proc/<pid>/ns/net) replace the start-time rule.
import type { ContainerStatus } from '../../runtime/runtime.ts';
import type { PodContext } from '../context.ts';

import { isLegacyStateName, LABEL, specHash } from '../model/names.ts';
import type { ObservedPod } from './observe.ts';

/**
 * ok; down: not running (start it); stranded: running in a dead namespace (restart it); orphaned:
 * its sandbox is gone (re-create it); restarting: the engine's restart policy is bringing it back
 * (leave it be); crashlooping: it keeps dying shortly after each start, which no restart fixes (the
 * image or its settings must change); unhealthy: running where it should, but its health check (its
 * own or its image's) says unhealthy (replace it). One notion for ls, ps, repair and supervise.
 */
export type ReplicaHealth = 'ok' | 'down' | 'stranded' | 'orphaned' | 'restarting' | 'crashlooping' | 'unhealthy';

/** Restarts, and how recent the last start, that make a replica crash-looping rather than one that once crashed. */
export const CRASHLOOP_RESTARTS = 2;
export const CRASHLOOP_WINDOW_MS = 60_000;

/** What the engine's restart policy is doing to it, if anything (undefined: nothing). */
function restartHealth(replica: ContainerStatus, now: number): 'restarting' | 'crashlooping' | undefined {
  const recent = replica.startedAt !== undefined && now - replica.startedAt.getTime() < CRASHLOOP_WINDOW_MS;
  const looping = replica.restartCount >= CRASHLOOP_RESTARTS && (replica.state === 'restarting' || recent);
  if (looping) return 'crashlooping';
  return replica.state === 'restarting' ? 'restarting' : undefined;
}

export interface AssessedReplica {
  n: number;
  status: ContainerStatus;
  health: ReplicaHealth;
}

export interface Assessment {
  sandbox?: ContainerStatus;
  replicas: AssessedReplica[];
}

export function replicaHealth(replica: ContainerStatus, sandbox: ContainerStatus | undefined, ownNamespace = false, now = Date.now()): ReplicaHealth {
  const placed = placement(replica, sandbox, ownNamespace, now);
  // Only a replica in its right place is judged by its check: a stranded one fails it for want of
  // a network, and restarting it (not replacing it) is the cure.
  return placed === 'ok' && replica.health?.status === 'unhealthy' ? 'unhealthy' : placed;
}

/** Whether the replica runs where it should: everything but its health check. */
function placement(replica: ContainerStatus, sandbox: ContainerStatus | undefined, ownNamespace: boolean, now: number): Exclude<ReplicaHealth, 'unhealthy'> {
  const restarting = restartHealth(replica, now);
  // A DNAT pod's replica has its own namespace: the sandbox's restarts cannot strand it.
  if (ownNamespace) return restarting ?? (replica.state === 'running' ? 'ok' : 'down');
  if (!sandbox || replica.networkMode !== `container:${sandbox.id}`) return 'orphaned';
  if (restarting) return restarting;
  if (replica.state !== 'running') return 'down';
  if (sandbox.state !== 'running') return 'stranded';
  // Where the engine runs on this host, the namespaces themselves say it. That matters on Podman,
  // which keeps the pod's namespace when a crashed sandbox is restarted: its replicas still serve.
  if (replica.netns && sandbox.netns) return replica.netns === sandbox.netns ? 'ok' : 'stranded';
  if (!sandbox.startedAt || !replica.startedAt) return 'stranded';
  return replica.startedAt < sandbox.startedAt ? 'stranded' : 'ok';
}

/** `mode`: the pod's network mode (modes/), which says whether replicas have namespaces of their own. */
export async function assessPod(ctx: PodContext, pod: ObservedPod, mode: { ownNamespaces: boolean }): Promise<Assessment> {
  const [sandbox, statuses] = await Promise.all([
    pod.sandbox ? ctx.runtime.containerStatus(pod.sandbox.id).catch(() => undefined) : undefined,
    Promise.all(pod.replicas.map((r) => ctx.runtime.containerStatus(r.container.id).catch(() => undefined))),
  ]);
  const replicas: AssessedReplica[] = [];
  pod.replicas.forEach((r, i) => {
    const status = statuses[i];
    if (status) replicas.push({ n: r.n, status, health: replicaHealth(status, sandbox, mode.ownNamespaces) });
  });
  return sandbox ? { sandbox, replicas } : { replicas };
}

/** Replicas the engine is restarting, or that crash-loop: repair leaves them to the engine and says so. */
export const beyondRepair = (a: Assessment): AssessedReplica[] => a.replicas.filter((r) => r.health === 'restarting' || r.health === 'crashlooping');

/** Another spec than the recorded one: left by an interrupted rollout. */
export function isOutdated(pod: ObservedPod, r: AssessedReplica): boolean {
  return pod.spec !== undefined && r.status.labels[LABEL.specHash] !== specHash(pod.spec);
}

/** Replicas whose health check says unhealthy: repair replaces them (supervise with a back-off). */
export const unhealthyReplicas = (a: Assessment): AssessedReplica[] => a.replicas.filter((r) => r.health === 'unhealthy');

/**
 * True when repair has something to do (a replica the engine is restarting is not: it is at it).
 * `replaceUnhealthy: false`: an unhealthy replica alone is not (supervise, while it backs off).
 */
export function needsRepair(pod: ObservedPod, a: Assessment, options: { replaceUnhealthy?: boolean } = {}): boolean {
  if (!a.sandbox || a.sandbox.state !== 'running' || pod.replicas.length !== pod.desired) return true;
  const leftAlone = (r: AssessedReplica): boolean => r.health === 'ok' || r.health === 'restarting' || r.health === 'crashlooping' || (r.health === 'unhealthy' && options.replaceUnhealthy === false);
  return a.replicas.some((r) => !leftAlone(r) || isOutdated(pod, r)) || pod.records.some(isLegacyRecord(pod));
}

const isLegacyRecord = (pod: ObservedPod) => (c: { name: string; labels: Record<string, string> }): boolean => c.labels[LABEL.role] === 'state' && isLegacyStateName(pod.name, c.name);

/** State records named the way 0.1.0 did: repair rewrites them under collision-free names. */
export const legacyRecords = (pod: ObservedPod): ObservedPod['records'] => pod.records.filter(isLegacyRecord(pod));

/** "web-1 is crash-looping (4 restarts, last exit code 3)": what ps, repair and supervise say. */
export function describeTrouble(r: AssessedReplica): string {
  const code = r.status.exitCode === undefined || r.status.exitCode === 0 ? '' : `, last exit code ${r.status.exitCode}`;
  const restarts = `${r.status.restartCount} restart${r.status.restartCount === 1 ? '' : 's'}${code}`;
  return r.health === 'crashlooping'
    ? `${r.status.name} is crash-looping (${restarts}): it dies soon after each start, which no repair fixes; see \`reuseport-pod logs\`, then roll out a working image`
    : `${r.status.name} is being restarted by the engine (${restarts})`;
}
