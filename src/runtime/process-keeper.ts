// The keeper of one process "container" (what conmon plus a restart policy are to Docker): started
// detached by the process runtime as `node process-keeper.js STATE_ROOT NAME`, it runs the
// container's command in a process group of its own, appends its output with timestamps to the
// container's log, restarts it when it dies (backoff doubling from 100 ms, reset after 10 s of
// running, as Docker's unless-stopped does) and records pids and counts in run.json. On SIGTERM it
// sends SIGTERM to the command's group, waits up to the stop timeout, then SIGKILLs it, and exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { requireCommand } from './process-command.ts';
import { signalGroup, startTime } from './process-pids.ts';
import { ProcessStore, type RunState } from './process-store.ts';

const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 10_000;
const STABLE_AFTER_MS = 10_000;
const RECORD_CHECK_MS = 2_000;

const [root = '', name = ''] = process.argv.slice(2);
const store = new ProcessStore(root);
const record = store.find(name);
if (!record || record.kind !== 'process') process.exit(2);
process.title = `reuseport-pod keeper ${name}`;

const words = requireCommand(record.image);
const log = openSync(store.logFile(name), 'a');
const line = (stream: 'stdout' | 'stderr', text: string): void => {
  writeSync(log, `${JSON.stringify({ time: new Date().toISOString(), stream, text })}\n`);
};

let run: RunState = { state: 'restarting', keeperPid: process.pid, keeperStart: startTime(process.pid), pid: 0, pidStart: '', restartCount: 0 };
const save = (next: Partial<RunState>): void => {
  run = { ...run, ...next };
  store.writeRun(name, run);
};

let child: ChildProcess | undefined;
let childStarted = 0;
let stopping = false;
let backoff = FIRST_BACKOFF_MS;
let restartTimer: NodeJS.Timeout | undefined;
let killTimer: NodeJS.Timeout | undefined;

function finish(): never {
  save({ state: 'exited', pid: 0 });
  closeSync(log);
  process.exit(0);
}

function pipe(stream: Readable | null, kind: 'stdout' | 'stderr'): void {
  if (stream) createInterface({ input: stream, crlfDelay: Infinity }).on('line', (text) => line(kind, text));
}

function exited(pid: number, code: number | null, signal: NodeJS.Signals | null): void {
  if (child?.pid !== pid) return;
  child = undefined;
  // Whatever the command left running in its group goes with it, as with a container's cgroup.
  signalGroup(pid, 'SIGKILL');
  const exitCode = code ?? 128 + (signal ? constants.signals[signal] : 0);
  save({ state: stopping ? 'exited' : 'restarting', pid: 0, pidStart: '', exitCode, finishedAt: new Date().toISOString() });
  if (stopping) {
    clearTimeout(killTimer);
    finish();
  }
  if (Date.now() - childStarted >= STABLE_AFTER_MS) backoff = FIRST_BACKOFF_MS;
  restartTimer = setTimeout(() => startCommand(true), backoff);
  backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
}

// The command must not outlive its keeper: nobody would read its output, restart it or stop it,
// and `ps` would call it exited while it serves. Node cannot set PR_SET_PDEATHSIG for a child, a
// shared process group does nothing against a kill -9 of the keeper alone, and polling the
// keeper's pid leaves a window (and pids are reused). So the command starts under a POSIX shell
// that leaves a watchdog in the command's process group, blocked reading fd 3: a pipe whose other
// end only this keeper holds. The kernel closes that end whenever the keeper dies, however it dies
// (SIGKILL and the OOM killer included); the read returns and the watchdog kills the group. The
// watchdog is forked twice so that it is not the command's child (a command that waits for any
// child must not reap it), and the shell then execs the command, which keeps the pid and the
// group that the keeper records and signals. A signal to the group (stop, or the cleanup after
// an exit) takes the watchdog with it; each start makes a new one.
const LIFELINE = '( (read _ <&3; kill -s KILL 0) >/dev/null 2>&1 & ); exec 3<&-; exec "$@"';

function startCommand(isRestart: boolean): void {
  restartTimer = undefined;
  if (stopping) return;
  const [program = ''] = words;
  const c = spawn('/bin/sh', ['-c', LIFELINE, 'reuseport-pod', ...words], {
    cwd: record!.cwd ?? process.cwd(),
    env: { ...process.env, ...record!.env },
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    // Its own process group, so that a stop reaches what the command spawns too.
    detached: true,
  });
  // Our end of the lifeline: never written; it closes when the command's group is gone.
  c.stdio[3]?.on('error', () => undefined);
  child = c;
  childStarted = Date.now();
  if (isRestart) run.restartCount++;
  c.on('error', (err) => {
    line('stderr', `reuseport-pod: cannot run ${program}: ${err.message}`);
    if (c.pid === undefined) {
      child = undefined;
      save({ state: stopping ? 'exited' : 'restarting', exitCode: 127, finishedAt: new Date().toISOString() });
      if (stopping) finish();
      restartTimer = setTimeout(() => startCommand(true), backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  });
  pipe(c.stdout, 'stdout');
  pipe(c.stderr, 'stderr');
  if (c.pid === undefined) return;
  const pid = c.pid;
  c.on('exit', (code, signal) => exited(pid, code, signal));
  save({ state: 'running', pid, pidStart: startTime(pid), startedAt: new Date().toISOString() });
}

function stop(): void {
  if (stopping) return;
  stopping = true;
  clearTimeout(restartTimer);
  const pid = child?.pid;
  if (pid === undefined) finish();
  const timeoutS = store.stopRequest(name)?.timeoutS ?? record!.stopTimeout;
  signalGroup(pid, 'SIGTERM');
  killTimer = setTimeout(() => signalGroup(pid, 'SIGKILL'), timeoutS * 1000);
}

process.on('SIGTERM', stop).on('SIGINT', stop).on('SIGHUP', () => undefined);
process.on('uncaughtException', (err) => {
  line('stderr', `reuseport-pod keeper failed: ${err.message}`);
  if (child?.pid) signalGroup(child.pid, 'SIGKILL');
  process.exit(1);
});

// A container folder removed behind our back (e.g. the state directory deleted) stops the command.
setInterval(() => {
  if (!existsSync(join(store.dir(name), 'record.json')) || store.find(name)?.id !== record.id) stop();
}, RECORD_CHECK_MS).unref();

startCommand(false);
