// The stability window after readiness (`--monitor S`, like `docker service update
// --update-monitor` or Kubernetes' minReadySeconds): an image that listens and then crashes a few
// seconds later must fail the command that started it, not be reported as a success while the
// engine's restart policy loops it.
import { setTimeout as delay } from 'node:timers/promises';
import type { PodContext } from '../context.ts';
import { ExitCode, PodError, throwIfAborted } from '../../errors.ts';
import { lastLogLines } from '../state/readiness.ts';

const POLL_MS = 200;

export async function monitorReplicas(ctx: PodContext, replicas: Array<{ id: string; name: string }>, monitorMs: number): Promise<void> {
  if (monitorMs <= 0 || replicas.length === 0) return;
  const listening = Date.now();
  ctx.progress(`Watching ${replicas.map((r) => r.name).join(', ')} for ${Math.round(monitorMs / 100) / 10} s (--monitor) ...`);
  const deadline = listening + monitorMs;
  for (;;) {
    const statuses = await Promise.all(replicas.map((r) => ctx.runtime.containerStatus(r.id).then((s) => ({ r, s }))));
    const fallen = statuses.find(({ s }) => s.state !== 'running' || s.restartCount > 0);
    // Healthy once is not enough either: a check that fails again within the window fails the command.
    const sick = statuses.find(({ s }) => s.health?.status === 'unhealthy');
    if (!fallen && sick) {
      const logs = await lastLogLines(ctx.runtime, sick.r.id);
      const output = sick.s.health?.lastOutput ? `; its last health check said:\n    ${sick.s.health.lastOutput.split('\n').join('\n    ')}` : '';
      throw new PodError(
        `replica ${sick.r.name} turned unhealthy within ${((Date.now() - listening) / 1000).toFixed(1)} s of being ready (the ${monitorMs / 1000} s --monitor window)${output}` +
          (logs ? `\n  its last log lines:\n${logs}` : ''),
        ExitCode.notReady,
      );
    }
    if (fallen) {
      const { r, s } = fallen;
      const after = ((Date.now() - listening) / 1000).toFixed(1);
      // Running again after a restart, inspect says 0: the engine's past die event has the code.
      const [logs, exit] = await Promise.all([lastLogLines(ctx.runtime, r.id), s.exitCode ?? ctx.runtime.lastExitCode?.(r.id).catch(() => undefined)]);
      const code = exit === undefined ? '' : ` with code ${exit}`;
      throw new PodError(
        `replica ${r.name} ${s.restartCount > 0 ? `exited${code} and was restarted` : `exited${code}`} within ${after} s of listening (the ${monitorMs / 1000} s --monitor window)` +
          (logs ? `; its last log lines:\n${logs}` : ' and logged nothing'),
        ExitCode.notReady,
      );
    }
    if (Date.now() >= deadline) return;
    throwIfAborted(ctx.signal);
    await delay(Math.min(POLL_MS, deadline - Date.now()));
  }
}
