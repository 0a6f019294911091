// Processes by pid, safely: a pid alone can be reused by an unrelated process once ours is gone,
// so every pid is kept with its start time (field 22 of /proc/PID/stat) and acted on only while
// both still match. A zombie counts as gone: it no longer runs and holds no socket.
import { readFileSync } from 'node:fs';

function statFields(pid: number): string[] | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The process's start time in clock ticks since boot, as text; '' when there is no such process. */
export function startTime(pid: number): string {
  // Fields after the name: [0] is field 3 (state), so field 22 (starttime) is [19].
  return statFields(pid)?.[19] ?? '';
}

export function isRunning(pid: number, start: string): boolean {
  const fields = statFields(pid);
  if (!fields || fields[0] === 'Z' || fields[0] === 'X') return false;
  return start === '' || fields[19] === start;
}

function kill(target: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(target, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Signals the process group led by `pid` (the command and whatever it spawned). A group id is not
 * handed out again while any member lives, so after the leader is gone it still names only ours.
 */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  if (pid > 0 && !kill(-pid, signal)) kill(pid, signal);
}

/** Signals one process, only while it is still the one recorded. */
export function signalProcess(pid: number, start: string, signal: NodeJS.Signals): void {
  if (isRunning(pid, start)) kill(pid, signal);
}
