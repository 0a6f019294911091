// ps, ls and inspect: what runs, computed from the engine each time.
import type { ContainerStatus } from '../../runtime/runtime.ts';
import type { PodContext } from '../context.ts';
import { ExitCode, PodError } from '../../errors.ts';
import { modeOf } from '../modes/index.ts';
import { assessPod, beyondRepair, describeTrouble, type Assessment } from '../state/health.ts';
import { isIncomplete, observeAllPods, requirePod, type ObservedPod } from '../state/observe.ts';
import { formatPort, type PodMode } from '../model/spec.ts';
import { projectOf } from '../model/project.ts';

export interface ReplicaRow {
  name: string;
  replica: number;
  id: string;
  state: string;
  /** ok, down, stranded (running in a dead namespace), orphaned (its sandbox was re-created), restarting, crashlooping or unhealthy. */
  health: string;
  /** What its health check (its own or its image's) last concluded; null: it has none (or the engine runs none, see runtime/docker-health.ts). */
  healthCheck: 'starting' | 'healthy' | 'unhealthy' | null;
  restarts: number;
  startedAt: string | null;
  uptimeSeconds: number | null;
  image: string;
}

export interface PodRow {
  name: string;
  ports: string[];
  image: string;
  /** Replicas whose listener is up (running replicas when the sandbox cannot count them) and, where they have a health check, healthy. */
  ready: number;
  desired: number;
  sandbox: string;
  /** incomplete: an interrupted command left it (see observe.ts isIncomplete); repair or rm. */
  state: 'running' | 'degraded' | 'stopped' | 'crashlooping' | 'incomplete';
  /** Replicas the engine is restarting or that crash-loop, in words. */
  troubles?: string[];
  /** Incomplete pods: unrecorded (nothing says what it should run) or interrupted (a command died holding its lock). */
  incomplete?: 'unrecorded' | 'interrupted';
  mode: PodMode;
  /** The Compose project `up` made the pod for. */
  project?: string;
  /** Modes with rules (dnat): the NAT rules in force in the sandbox's namespace (iptables-save lines). */
  rules?: string[];
}

const uptime = (s: ContainerStatus, now: number): number | null =>
  s.state === 'running' && s.startedAt ? Math.max(0, Math.round((now - s.startedAt.getTime()) / 1000)) : null;

export async function replicaRows(ctx: PodContext, pod: ObservedPod, assessed?: Assessment): Promise<ReplicaRow[]> {
  const now = Date.now();
  const { replicas } = assessed ?? (await assessPod(ctx, pod, modeOf(pod.spec)));
  return replicas.map(({ n, status: s, health }) => ({
    name: s.name,
    replica: n,
    id: s.id.slice(0, 12),
    state: s.state,
    health,
    healthCheck: s.health?.status ?? null,
    restarts: s.restartCount,
    startedAt: s.startedAt?.toISOString() ?? null,
    uptimeSeconds: uptime(s, now),
    image: s.image,
  }));
}

export async function podRow(ctx: PodContext, pod: ObservedPod, assessed?: Assessment): Promise<PodRow> {
  // Ready needs a replica that is up and stays up: one the engine keeps restarting is not, though
  // it listens for a moment after each start. One with a health check is ready only while healthy
  // (starting or unhealthy ones may listen, but they are not what create and rollout wait for).
  const a = assessed ?? (await assessPod(ctx, pod, modeOf(pod.spec)));
  const troubled = beyondRepair(a);
  const mode = modeOf(pod.spec);
  const healthy = (s: ContainerStatus): boolean => s.health === undefined || s.health.status === 'healthy';
  const serving = a.replicas.filter((r) => r.status.state === 'running' && !troubled.includes(r) && healthy(r.status)).map((r) => r.status);
  const { ready, rules } = pod.sandbox?.state === 'running' ? await mode.reachable(ctx, pod.name, pod.sandbox.id, pod.spec, serving) : { ready: 0, rules: undefined };
  const { desired } = pod;
  return {
    name: pod.name,
    ports: (pod.spec?.ports ?? []).map(formatPort),
    image: pod.spec?.image ?? pod.replicas[0]?.container.image ?? '',
    ready,
    desired,
    sandbox: pod.sandbox?.state ?? 'missing',
    state: isIncomplete(pod)
      ? 'incomplete'
      : pod.sandbox?.state !== 'running'
        ? 'stopped'
        : troubled.some((r) => r.health === 'crashlooping')
          ? 'crashlooping'
          : ready === 0
            ? 'stopped'
            : ready < desired
              ? 'degraded'
              : 'running',
    ...(troubled.length > 0 ? { troubles: troubled.map(describeTrouble) } : {}),
    ...(isIncomplete(pod) ? { incomplete: pod.recorded ? ('interrupted' as const) : ('unrecorded' as const) } : {}),
    mode: mode.name,
    ...(projectOf(pod.spec) ? { project: projectOf(pod.spec) } : {}),
    ...(rules ? { rules } : {}),
  };
}

/** What `ps` says under the table of a pod that is not running, and the way out. */
export function podStateNote(pod: PodRow): string {
  const counts = `${pod.ready}/${pod.desired} replicas ready, sandbox ${pod.sandbox}`;
  if (pod.incomplete === 'unrecorded') return `pod ${pod.name} is incomplete: nothing records what it should run (a create or rm was interrupted); \`reuseport-pod rm ${pod.name}\` removes what is left`;
  if (pod.incomplete === 'interrupted') return `pod ${pod.name} is incomplete: a command on it was interrupted (${counts}); \`reuseport-pod repair ${pod.name}\` completes it, \`reuseport-pod rm ${pod.name}\` removes it`;
  if (pod.troubles) return `pod ${pod.name} is ${pod.state}: ${counts}; ${pod.troubles.join('; ')}`;
  return `pod ${pod.name} is ${pod.state}: ${counts}; \`reuseport-pod repair ${pod.name}\` fixes it`;
}

export async function listPods(ctx: PodContext): Promise<PodRow[]> {
  const parts = ctx.runtime.parts?.();
  if (!parts) return Promise.all((await observeAllPods(ctx.runtime)).map((p) => podRow(ctx, p)));
  // One runtime at a time: a pod named alike in two runtimes is two pods. An engine that does not
  // answer is skipped while another runtime has pods; with none, its error stands.
  const listed = await Promise.all(parts.map((runtime) => listPods({ ...ctx, runtime }).then((rows) => ({ rows }), (err: unknown) => ({ err }))));
  const rows = listed.flatMap((l) => ('rows' in l ? l.rows : []));
  for (const l of listed) {
    if ('err' in l && (rows.length === 0 || !(l.err instanceof PodError && l.err.exitCode === ExitCode.engineUnreachable))) throw l.err;
  }
  return rows.sort((a, b) => a.name.localeCompare(b.name));
}

export async function podProcesses(ctx: PodContext, name: string): Promise<{ pod: PodRow; replicas: ReplicaRow[] }> {
  const pod = await requirePod(ctx.runtime, name);
  const assessed = await assessPod(ctx, pod, modeOf(pod.spec));
  const [row, replicas] = await Promise.all([podRow(ctx, pod, assessed), replicaRows(ctx, pod, assessed)]);
  return { pod: row, replicas };
}

export async function inspectPod(ctx: PodContext, name: string): Promise<object> {
  const pod = await requirePod(ctx.runtime, name);
  const assessed = await assessPod(ctx, pod, modeOf(pod.spec));
  const { sandbox, replicas } = assessed;
  const row = await podRow(ctx, pod, assessed);
  return {
    ...row,
    spec: pod.spec ?? null,
    sandbox: sandbox
      ? {
          id: sandbox.id,
          name: sandbox.name,
          image: sandbox.image,
          state: sandbox.state,
          ports: sandbox.ports.map(formatPort),
          sysctls: sandbox.sysctls,
          restarts: sandbox.restartCount,
          startedAt: sandbox.startedAt?.toISOString() ?? null,
        }
      : null,
    replicas: replicas.map(({ n, status: s, health }) => ({
      replica: n,
      id: s.id,
      name: s.name,
      image: s.image,
      state: s.state,
      health,
      healthCheck: s.health ? { status: s.health.status, failingStreak: s.health.failingStreak, lastOutput: s.health.lastOutput ?? null } : null,
      networkMode: s.networkMode,
      ...modeOf(pod.spec).replicaDetails(pod.name, s),
      restarts: s.restartCount,
      startedAt: s.startedAt?.toISOString() ?? null,
      env: { INSTANCE: s.env['INSTANCE'], PORT: s.env['PORT'] },
    })),
  };
}
