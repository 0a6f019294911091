// repair: bring a pod back to serving its recorded spec and count. In this order:
//   1. nothing recorded (an interrupted create or rm): refuse, and say `rm` removes what is left;
//   2. the sandbox is started, or re-created from the recorded spec when it is gone;
//   3. replicas above the recorded count are removed (highest numbers first, as scale does) before
//      anything is started, so that a killed scale-down is finished, not undone and redone;
//   4. stranded replicas are restarted (they join the sandbox's current namespace), replicas joined
//      to a sandbox that no longer exists are re-created, stopped ones are started, missing ones added;
//   5. replicas of another spec (an interrupted rollout) are replaced with the recorded one;
//   5b. replicas whose health check says unhealthy are replaced the same way: the new one first,
//      healthy, then the old one stopped (supervise asks for this with a back-off);
//   6. state records named the way 0.1.0 did are rewritten under collision-free names.
// Replicas the engine's restart policy is restarting, or that crash-loop, are left to the engine
// (starting them fights it) and reported: no repair fixes an image that dies. Used by `repair` and
// by `supervise`.
import type { PodContext } from '../context.ts';
import { ExitCode, PodError } from '../../errors.ts';
import { modeOf } from '../modes/index.ts';
import { assessPod, beyondRepair, describeTrouble, isOutdated, legacyRecords, needsRepair, type Assessment } from '../state/health.ts';
import { withPodLock } from '../state/lock.ts';
import type { StoredSpec } from '../model/names.ts';
import { markerImage, requirePod, type ObservedPod } from '../state/observe.ts';
import { planScale } from '../model/plan.ts';
import { runSandbox } from '../ops/sandbox.ts';
import { replaceReplicas } from '../ops/replace.ts';
import { startReplicas, stopAndRemove, waitReady } from '../ops/replicas.ts';
import { writeState } from '../state/records.ts';
import { Undo } from '../ops/undo.ts';

export interface RepairResult {
  name: string;
  actions: string[];
  /** What repair saw and left alone: replicas the engine is restarting or that crash-loop. */
  problems: string[];
  /** The unhealthy replicas it replaced (their names), for supervise's back-off. */
  replacedUnhealthy: string[];
  seconds: number;
}

const unrecorded = (name: string): PodError =>
  new PodError(`pod "${name}" is incomplete: nothing records what it should run (a create or rm was interrupted); \`reuseport-pod rm ${name}\` removes what is left`, ExitCode.failure);

async function ensureSandbox(ctx: PodContext, pod: ObservedPod, spec: StoredSpec, a: Assessment, actions: string[]): Promise<string> {
  if (!a.sandbox) {
    // What the sandbox stands on (a DNAT pod's network) may have gone with it, in a manual cleanup.
    await modeOf(spec).prepare(ctx, pod.name);
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

export interface RepairOptions {
  waitTimeoutMs: number;
  lockWaitMs?: number;
  /** Replace replicas whose health check says unhealthy (default true; supervise backs off between them). */
  replaceUnhealthy?: boolean;
}

async function repairLocked(ctx: PodContext, name: string, options: RepairOptions, started: number): Promise<RepairResult> {
  const { waitTimeoutMs } = options;
  const replaceUnhealthy = options.replaceUnhealthy !== false;
  const pod = await requirePod(ctx.runtime, name);
  const spec = pod.spec;
  if (!pod.recorded || !spec) throw unrecorded(name);
  const mode = modeOf(spec);
  const a = await assessPod(ctx, pod, mode);
  const actions: string[] = [];
  const problems = beyondRepair(a).map(describeTrouble);
  const replacedUnhealthy: string[] = [];
  const done = (): RepairResult => ({ name, actions, problems, replacedUnhealthy, seconds: (Date.now() - started) / 1000 });
  if (!needsRepair(pod, a, { replaceUnhealthy })) {
    // A pod can look healthy with its balance lost (a DNAT pod's sandbox restarted: a fresh namespace).
    if (!a.sandbox || !(await mode.balanceLost(ctx, name, a.sandbox.id))) return done();
    actions.push(mode.balanceAction(await mode.balance(ctx, name, a.sandbox.id, spec)));
    return done();
  }
  const sandboxId = await ensureSandbox(ctx, pod, spec, a, actions);

  // Surplus first, without starting it: highest numbers, as scale-down removes them.
  const kept = a.replicas.filter((r) => r.health !== 'orphaned');
  const plan = planScale(kept.map((r) => r.n), pod.desired);
  const going = plan.remove.flatMap((n) => kept.filter((r) => r.n === n));
  if (going.length > 0) {
    await mode.balance(ctx, name, sandboxId, spec, going.map((r) => r.status.id));
    await stopAndRemove(ctx, going.map((r) => r.status.id), spec.stopTimeout);
    for (const r of going) actions.push(`removed ${r.status.name} (above the desired ${pod.desired})`);
  }
  const staying = a.replicas.filter((r) => !going.includes(r));

  const orphaned = staying.filter((r) => r.health === 'orphaned');
  const restart = staying.filter((r) => r.health === 'stranded' || (r.health === 'down' && a.sandbox?.id === sandboxId));
  // Re-created in place (same numbers), with the spec the pod records now.
  await Promise.all(orphaned.map((r) => ctx.runtime.removeContainer(r.status.id)));
  await Promise.all(restart.map((r) => (r.status.state === 'running' ? ctx.runtime.restartContainer(r.status.id, spec.stopTimeout) : ctx.runtime.startContainer(r.status.id))));
  for (const r of restart) actions.push(`${r.health === 'stranded' ? 'restarted stranded' : 'started'} ${r.status.name}`);

  const undo = new Undo(ctx.runtime);
  // The orphans' numbers are free again: the lowest free numbers planScale adds are theirs first.
  const added = await startReplicas(ctx, name, spec, sandboxId, plan.add, undo);
  for (const r of added) actions.push(`${orphaned.some((o) => o.n === r.n) ? 're-created' : 'added'} ${r.name}`);
  const probe = mode.mustProbe(added, restart.map((r) => ({ n: r.n, id: r.status.id, name: r.status.name })));
  const listening = pod.desired - staying.filter((r) => r.health === 'restarting' || r.health === 'crashlooping').length;
  await waitReady(ctx, spec, sandboxId, listening, probe, waitTimeoutMs);
  // A re-created sandbox has an empty balance, a re-created or restarted replica a new address.
  await mode.balance(ctx, name, sandboxId, spec);

  const outdated = staying.filter((r) => r.health !== 'orphaned' && isOutdated(pod, r));
  if (outdated.length > 0) {
    const now = await requirePod(ctx.runtime, name);
    const replaced = await replaceReplicas(ctx, now, sandboxId, spec, now.replicas.filter((r) => outdated.some((o) => o.n === r.n)), { maxSurge: 1, waitTimeoutMs, monitorMs: 0 });
    for (const r of replaced) actions.push(`replaced ${r.old} (another spec: an interrupted rollout) with ${r.new}`);
  }
  const sick = replaceUnhealthy ? staying.filter((r) => r.health === 'unhealthy' && !outdated.includes(r)) : [];
  if (sick.length > 0) {
    const now = await requirePod(ctx.runtime, name);
    const replaced = await replaceReplicas(ctx, now, sandboxId, spec, now.replicas.filter((r) => sick.some((o) => o.n === r.n)), { maxSurge: 1, waitTimeoutMs, monitorMs: 0 });
    for (const r of replaced) {
      const said = sick.find((o) => o.status.name === r.old)?.status.health?.lastOutput?.split('\n')[0];
      actions.push(`replaced ${r.old} (unhealthy${said ? `: "${said}"` : ''}) with ${r.new}`);
      replacedUnhealthy.push(r.old);
    }
  }
  const legacy = legacyRecords(pod);
  if (legacy.length > 0) {
    const now = await requirePod(ctx.runtime, name);
    await writeState(ctx, now, markerImage(now), { spec, replicas: now.desired });
    actions.push(`renamed the state record ${legacy.map((r) => r.name.replace(/^\//, '')).join(', ')} (0.1.0's names collide with pod "${name}-state")`);
  }
  return done();
}

export async function repairPod(ctx: PodContext, name: string, options: RepairOptions): Promise<RepairResult> {
  const started = Date.now();
  const seen = await requirePod(ctx.runtime, name);
  // Before the lock: breaking an interrupted command's stale lock is rm's work, not repair's.
  if (!seen.recorded) throw unrecorded(name);
  const lock = options.lockWaitMs === undefined ? { image: markerImage(seen) } : { image: markerImage(seen), waitMs: options.lockWaitMs };
  return withPodLock(ctx, name, lock, () => repairLocked(ctx, name, options, started));
}
