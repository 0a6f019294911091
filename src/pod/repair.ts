// repair: bring a pod back to serving its desired replicas. The sandbox is started (or re-created
// from the recorded spec when it is gone), stranded replicas are restarted so they join its current
// namespace, replicas joined to a sandbox that no longer exists are re-created, stopped ones are
// started, and the count is converged on the recorded one. Used by `repair` and by `supervise`.
import type { PodContext } from './context.ts';
import { ExitCode, PodError } from './errors.ts';
import { createPodNetwork, isDnat, publishBackends, rulesStale } from './dnat.ts';
import { assessPod, needsRepair, type Assessment } from './health.ts';
import { withPodLock } from './lock.ts';
import { markerImage, requirePod, type ObservedPod } from './observe.ts';
import { planScale } from './plan.ts';
import { runSandbox } from './create.ts';
import { startReplicas, stopAndRemove, waitReady } from './replicas.ts';
import { Undo } from './undo.ts';

export interface RepairResult {
  name: string;
  actions: string[];
  seconds: number;
}

async function ensureSandbox(ctx: PodContext, pod: ObservedPod, a: Assessment, actions: string[]): Promise<string> {
  const spec = pod.spec;
  if (!spec) throw new PodError(`pod "${pod.name}" has no recorded spec; remove it with \`reuseport-pod rm ${pod.name}\` and create it again`, ExitCode.failure);
  if (!a.sandbox) {
    // A DNAT pod's network may have gone with it (a manual cleanup); the sandbox cannot start without it.
    if (isDnat(spec)) await createPodNetwork(ctx, pod.name);
    const id = await runSandbox(ctx, { name: pod.name, replicas: pod.desired, ...spec }, markerImage(pod));
    actions.push(`re-created the sandbox ${pod.name}-sandbox`);
    return id;
  }
  if (a.sandbox.state !== 'running') {
    await ctx.runtime.startContainer(a.sandbox.id);
    actions.push(`started the sandbox ${a.sandbox.name}`);
  }
  return a.sandbox.id;
}

async function repairLocked(ctx: PodContext, name: string, waitTimeoutMs: number, started: number): Promise<RepairResult> {
  const pod = await requirePod(ctx.runtime, name);
  const a = await assessPod(ctx, pod);
  const actions: string[] = [];
  if (!needsRepair(pod, a)) {
    // A DNAT pod can look healthy with its rules lost (the sandbox restarted: a fresh namespace).
    if (!isDnat(pod.spec) || !pod.spec || !a.sandbox || !(await rulesStale(ctx, name, a.sandbox.id))) return { name, actions, seconds: (Date.now() - started) / 1000 };
    const rules = await publishBackends(ctx, name, a.sandbox.id, pod.spec);
    actions.push(`rewrote the NAT rules (${rules.filter((l) => l.includes('DNAT --to')).length} backends)`);
    return { name, actions, seconds: (Date.now() - started) / 1000 };
  }
  const spec = pod.spec;
  const sandboxId = await ensureSandbox(ctx, pod, a, actions);
  if (!spec) return { name, actions, seconds: 0 };

  const orphaned = a.replicas.filter((r) => r.health === 'orphaned');
  const restart = a.replicas.filter((r) => r.health === 'stranded' || (r.health === 'down' && a.sandbox?.id === sandboxId));
  // Re-created in place (same numbers), with the spec the pod records now.
  await Promise.all(orphaned.map((r) => ctx.runtime.removeContainer(r.status.id)));
  await Promise.all(restart.map((r) => (r.status.state === 'running' ? ctx.runtime.restartContainer(r.status.id, spec.stopTimeout) : ctx.runtime.startContainer(r.status.id))));
  for (const r of restart) actions.push(`${r.health === 'stranded' ? 'restarted stranded' : 'started'} ${r.status.name}`);

  const kept = a.replicas.filter((r) => r.health !== 'orphaned').map((r) => r.n);
  const plan = planScale(kept, pod.desired);
  const undo = new Undo(ctx.runtime);
  const added = await startReplicas(ctx, name, spec, sandboxId, plan.add, undo);
  for (const r of added) actions.push(`${orphaned.some((o) => o.n === r.n) ? 're-created' : 'added'} ${r.name}`);
  if (plan.remove.length > 0) {
    const going = plan.remove.flatMap((n) => a.replicas.filter((r) => r.n === n));
    await publishBackends(ctx, name, sandboxId, spec, going.map((r) => r.status.id));
    await stopAndRemove(ctx, going.map((r) => r.status.id), spec.stopTimeout);
    for (const r of going) actions.push(`removed ${r.status.name} (above the desired ${pod.desired})`);
  }
  // DNAT pods: restarted replicas must accept too before the rules name them again.
  const probe = isDnat(spec) ? [...added, ...restart.map((r) => ({ n: r.n, id: r.status.id, name: r.status.name }))] : added;
  await waitReady(ctx, spec, sandboxId, pod.desired, probe, waitTimeoutMs);
  // DNAT pods: a re-created sandbox has empty rules, a re-created or restarted replica a new address.
  await publishBackends(ctx, name, sandboxId, spec);
  return { name, actions, seconds: (Date.now() - started) / 1000 };
}

export async function repairPod(ctx: PodContext, name: string, options: { waitTimeoutMs: number; lockWaitMs?: number }): Promise<RepairResult> {
  const started = Date.now();
  const seen = await requirePod(ctx.runtime, name);
  const lock = options.lockWaitMs === undefined ? { image: markerImage(seen) } : { image: markerImage(seen), waitMs: options.lockWaitMs };
  return withPodLock(ctx, name, lock, () => repairLocked(ctx, name, options.waitTimeoutMs, started));
}
