// A container's health check as the engine reports it in inspect's State.Health.
import type { ContainerStatus } from './runtime.ts';

interface HealthLogEntry {
  ExitCode?: number;
  Output?: string;
}

export interface InspectHealth {
  Status?: string;
  FailingStreak?: number;
  Log?: HealthLogEntry[] | null;
}

/** Output beyond this is cut: an error message carries it, and a check may print a whole page. */
const OUTPUT_LIMIT = 2_000;

/**
 * undefined: no check (Docker says "none", Podman ""). Podman 4.3 runs checks from systemd timers
 * only: without systemd (containers, CI machines) it reports "starting" for ever and has run no
 * check (an empty Log). Waiting for such a check would wait out every --wait-timeout, so a check
 * that has never run on Podman counts as no check: readiness is then listening alone, as without
 * a HEALTHCHECK. Docker's empty Log only means the first interval has not passed yet.
 */
export function healthOf(health: InspectHealth | undefined, engine: 'docker' | 'podman'): ContainerStatus['health'] {
  const status = health?.Status;
  if (status !== 'starting' && status !== 'healthy' && status !== 'unhealthy') return undefined;
  const log = health?.Log ?? [];
  if (engine === 'podman' && log.length === 0) return undefined;
  const last = log.at(-1);
  const result: NonNullable<ContainerStatus['health']> = { status, failingStreak: health?.FailingStreak ?? 0 };
  if (last?.Output !== undefined) result.lastOutput = last.Output.trim().slice(-OUTPUT_LIMIT);
  if (last?.ExitCode !== undefined) result.lastExitCode = last.ExitCode;
  return result;
}
