// Whether a pod's lock still has a living holder. Kept apart from lock.ts so that observing a pod
// (ls, ps) can tell "a command is at work" from "a command was killed holding it" without the
// lock's writing side.
import { hostname } from 'node:os';
import type { ContainerSummary } from '../../runtime/runtime.ts';
import { LABEL } from '../model/names.ts';

const STALE_MS = 15 * 60 * 1000;

/** Pods whose lock this process holds right now: a lock naming this process but not here was left behind. */
export const heldHere = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock is stale when its holder ran on this host and is gone, or when it is very old. */
export function lockIsStale(lock: ContainerSummary, now = Date.now()): boolean {
  const [host, pid] = (lock.labels[LABEL.holder] ?? '').split(':');
  // Left by this very process (a release the engine did not take, e.g. while it restarted).
  if (host === hostname() && Number(pid) === process.pid && !heldHere.has(lock.labels[LABEL.pod] ?? '')) return true;
  if (host === hostname() && Number(pid) > 0 && !isAlive(Number(pid))) return true;
  const since = Date.parse(lock.labels[LABEL.since] ?? '');
  return Number.isNaN(since) || now - since > STALE_MS;
}
