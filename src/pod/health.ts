// Is each replica really serving? Docker says "Up" for a replica whose sandbox restarted, yet that
// replica sits in the old, empty network namespace (moby#24935). Two facts from inspect tell it:
// a replica joined the namespace the sandbox had when the replica last started, so one that
// started before the sandbox's current start is stranded; and one whose NetworkMode names another
// sandbox id was joined to a sandbox that has since been re-created. Where the engine runs on this
// host, the namespace identities (/proc/<pid>/ns/net) replace the start-time rule.
import type { ContainerStatus } from '../runtime/runtime.ts';
import type { PodContext } from './context.ts';
import { isDnat } from './dnat.ts';
import type { ObservedPod } from './observe.ts';

/** ok; down: not running; stranded: running in a dead namespace (restart it); orphaned: its sandbox is gone (re-create it). */
export type ReplicaHealth = 'ok' | 'down' | 'stranded' | 'orphaned';

export interface AssessedReplica {
  n: number;
  status: ContainerStatus;
  health: ReplicaHealth;
}

export interface Assessment {
  sandbox?: ContainerStatus;
  replicas: AssessedReplica[];
}

export function replicaHealth(replica: ContainerStatus, sandbox: ContainerStatus | undefined, ownNamespace = false): ReplicaHealth {
  // A DNAT pod's replica has its own namespace: the sandbox's restarts cannot strand it.
  if (ownNamespace) return replica.state === 'running' ? 'ok' : 'down';
  if (!sandbox || replica.networkMode !== `container:${sandbox.id}`) return 'orphaned';
  if (replica.state !== 'running') return 'down';
  if (sandbox.state !== 'running') return 'stranded';
  // Where the engine runs on this host, the namespaces themselves say it. That matters on Podman,
  // which keeps the pod's namespace when a crashed sandbox is restarted: its replicas still serve.
  if (replica.netns && sandbox.netns) return replica.netns === sandbox.netns ? 'ok' : 'stranded';
  if (!sandbox.startedAt || !replica.startedAt) return 'stranded';
  return replica.startedAt < sandbox.startedAt ? 'stranded' : 'ok';
}

export async function assessPod(ctx: PodContext, pod: ObservedPod): Promise<Assessment> {
  const [sandbox, statuses] = await Promise.all([
    pod.sandbox ? ctx.runtime.containerStatus(pod.sandbox.id).catch(() => undefined) : undefined,
    Promise.all(pod.replicas.map((r) => ctx.runtime.containerStatus(r.container.id).catch(() => undefined))),
  ]);
  const replicas: AssessedReplica[] = [];
  pod.replicas.forEach((r, i) => {
    const status = statuses[i];
    if (status) replicas.push({ n: r.n, status, health: replicaHealth(status, sandbox, isDnat(pod.spec)) });
  });
  return sandbox ? { sandbox, replicas } : { replicas };
}

/** True when repair has something to do. */
export function needsRepair(pod: ObservedPod, a: Assessment): boolean {
  return !a.sandbox || a.sandbox.state !== 'running' || a.replicas.some((r) => r.health !== 'ok') || pod.replicas.length !== pod.desired;
}
