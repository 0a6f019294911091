// The second half of readiness: a replica that listens is ready only once its health check (its
// own or its image's) says `healthy`. Mode-independent: the engine runs the check, whatever the
// replica's namespace, so every mode's listener wait is followed by this one (ops/replicas.ts).
import { setTimeout as delay } from 'node:timers/promises';
import type { ContainerStatus, Runtime } from '../../runtime/runtime.ts';
import { ExitCode, PodError, throwIfAborted } from '../../errors.ts';
import { lastLogLines } from './readiness.ts';

export interface HealthyWait {
  replicas: Array<{ id: string; name: string }>;
  /** Absolute time (Date.now()) by which every replica with a check must be healthy. */
  deadline: number;
  /** The --wait-timeout the deadline came from, for the message. */
  timeoutMs: number;
  /** Said under a failed check: replicas sharing one port must not probe it (see the README). */
  hint?: string;
  progress?: (line: string) => void;
  signal?: AbortSignal;
}

const POLL_MS = 250;

/** "starting" in ps, or "-" for a replica without a check: one word per replica. */
export const healthWord = (s: ContainerStatus): string => s.health?.status ?? '-';

/** What a check last said, indented for an error message. */
function lastCheck(s: ContainerStatus): string {
  const h = s.health;
  if (!h || h.lastOutput === undefined) return '  no health check has finished yet (is --health-interval or the start period longer than --wait-timeout?)';
  const code = h.lastExitCode === undefined ? '' : ` (exit code ${h.lastExitCode})`;
  const output = h.lastOutput === '' ? ' printed nothing' : `:\n${h.lastOutput.split('\n').map((l) => `    ${l}`).join('\n')}`;
  return `  its last health check${code}${output}`;
}

async function failure(runtime: Runtime, r: { id: string; name: string }, s: ContainerStatus, why: string, hint?: string): Promise<PodError> {
  const logs = await lastLogLines(runtime, r.id);
  return new PodError(
    `replica ${r.name} ${why}\n${lastCheck(s)}\n` + (logs ? `  its last log lines:\n${logs}` : '  it logged nothing') + (hint ? `\n  (${hint})` : ''),
    ExitCode.notReady,
  );
}

/**
 * Resolves once every replica that has a health check reports `healthy` (replicas without one are
 * ready already). Rejects naming the first replica that is `unhealthy`, exits, or is still not
 * healthy at the deadline, with its last check's output and its last log lines.
 */
export async function waitHealthy(runtime: Runtime, wait: HealthyWait): Promise<void> {
  let announced = false;
  for (;;) {
    const statuses = await Promise.all(wait.replicas.map((r) => runtime.containerStatus(r.id).then((s) => ({ r, s }))));
    const checked = statuses.filter(({ s }) => s.health !== undefined);
    const pending = checked.filter(({ s }) => s.health?.status !== 'healthy');
    if (pending.length === 0) return;
    const sick = pending.find(({ s }) => s.health?.status === 'unhealthy');
    if (sick) throw await failure(runtime, sick.r, sick.s, `is unhealthy: its health check failed ${sick.s.health?.failingStreak ?? 0} time${sick.s.health?.failingStreak === 1 ? '' : 's'} in a row`, wait.hint);
    const gone = pending.find(({ s }) => s.state !== 'running');
    if (gone) throw await failure(runtime, gone.r, gone.s, `exited (${gone.s.state}) while its health check was starting`);
    if (!announced) {
      wait.progress?.(`Waiting for ${pending.map(({ r }) => r.name).join(', ')} to be healthy (health check) ...`);
      announced = true;
    }
    throwIfAborted(wait.signal);
    if (Date.now() >= wait.deadline) {
      const [first] = pending;
      throw await failure(runtime, first!.r, first!.s, `is not healthy within ${Math.round(wait.timeoutMs / 1000)} s (--wait-timeout): its health check still says "${first!.s.health?.status}"`, wait.hint);
    }
    await delay(Math.min(POLL_MS, Math.max(0, wait.deadline - Date.now())));
  }
}
