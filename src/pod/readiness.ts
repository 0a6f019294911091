// A replica is ready when its listener shows up in the pod's network namespace. The sandbox's
// pause program counts LISTEN sockets on a port (`/pause --listeners PORT`), so readiness works
// for any replica image and any engine that can exec, and never needs a fixed sleep.
import { setTimeout as delay } from 'node:timers/promises';
import type { Runtime } from '../runtime/runtime.ts';
import { ExitCode, PodError, throwIfAborted } from './errors.ts';

export interface WaitOptions {
  sandboxId: string;
  port: number;
  /** Listeners to wait for on `port`. */
  count: number;
  /** Containers that must stay up meanwhile: one that exits fails the wait at once. */
  watch: Array<{ id: string; name: string }>;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** The count, `null` when the sandbox has no way to count (not our pause), `undefined` on a passing failure. */
export async function probeListeners(runtime: Runtime, sandboxId: string, port: number): Promise<number | null | undefined> {
  const result = await runtime.exec(sandboxId, ['/pause', '--listeners', String(port)]).catch((err: unknown) => ({ exitCode: -1, stdout: '', stderr: String(err) }));
  if (result.exitCode === 0) {
    const n = Number.parseInt(result.stdout.trim(), 10);
    return Number.isNaN(n) ? null : n;
  }
  // 126/127, or the engine's "executable file not found": a --sandbox-image without our pause.
  if (result.exitCode === 126 || result.exitCode === 127 || /not found|no such file/i.test(result.stderr)) return null;
  return undefined;
}

export async function countListeners(runtime: Runtime, sandboxId: string, port: number): Promise<number | undefined> {
  return (await probeListeners(runtime, sandboxId, port)) ?? undefined;
}

async function lastLogLines(runtime: Runtime, id: string, lines = 10): Promise<string> {
  try {
    const stream = await runtime.logs(id, { follow: false, tail: lines });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
    return Buffer.concat(chunks)
      .toString()
      .split('\n')
      .map((l) => l.replace(/^\S+Z /, '').trimEnd())
      .filter(Boolean)
      .map((l) => `    ${l}`)
      .join('\n');
  } catch {
    return '';
  }
}

const list = (names: string[]): string => (names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`);

const SO_REUSEPORT_HINT = '(does the image listen on $PORT with SO_REUSEPORT? see the README)';

export async function failIfExited(runtime: Runtime, watch: WaitOptions['watch']): Promise<void> {
  for (const w of watch) {
    const s = await runtime.containerStatus(w.id);
    if (s.state === 'exited' || s.state === 'dead' || s.state === 'restarting' || s.restartCount > 0) {
      const [logs, code] = await Promise.all([lastLogLines(runtime, w.id), s.exitCode ?? runtime.lastExitCode?.(w.id).catch(() => undefined)]);
      throw new PodError(
        `replica ${w.name} exited${code === undefined ? '' : ` with code ${code}`} before it was listening` +
          (logs ? `; its last log lines:\n${logs}` : ' and logged nothing') +
          `\n  ${SO_REUSEPORT_HINT}`,
        ExitCode.notReady,
      );
    }
  }
}

/**
 * What the replicas said, for an error raised once the wait is over: by then the operation undoes
 * what it made, so `reuseport-pod logs` would find nothing to show.
 */
export async function logReport(runtime: Runtime, replicas: WaitOptions['watch']): Promise<string> {
  const blocks = await Promise.all(
    replicas.map(async (r) => {
      const logs = await lastLogLines(runtime, r.id);
      return logs ? `  ${r.name}'s last log lines:\n${logs}` : `  ${r.name} logged nothing`;
    }),
  );
  return blocks.join('\n');
}

/** The replicas not listening when time ran out, named, with what each logged. */
async function notListening(runtime: Runtime, opts: WaitOptions, seen: number | undefined): Promise<PodError> {
  const head = `only ${seen ?? 0} of ${opts.count} listeners came up on port ${opts.port} within ${Math.round(opts.timeoutMs / 1000)} s`;
  const listening = await Promise.all(opts.watch.map((w) => runtime.listensOn?.(w.id, opts.port).catch(() => undefined)));
  const known = listening.every((l) => l !== undefined);
  const silent = known ? opts.watch.filter((_, i) => !listening[i]) : opts.watch;
  if (silent.length === 0) {
    return new PodError(`${head}; the new replicas (${list(opts.watch.map((w) => w.name))}) listen, so a replica that was already running has stopped listening`, ExitCode.notReady);
  }
  const names = silent.map((w) => w.name);
  const who = known ? `${list(names)} ${names.length === 1 ? 'is' : 'are'} not listening` : `not all of ${list(names)} are listening`;
  return new PodError(
    `${head}: ${who}\n${await logReport(runtime, silent)}\n  (slow to start? give it a longer --wait-timeout; does the image listen on $PORT with SO_REUSEPORT? see the README)`,
    ExitCode.notReady,
  );
}

/**
 * Resolves with the number of listeners seen, or `undefined` when the sandbox cannot count them
 * (a --sandbox-image without our pause program): then only "running" can be checked.
 */
export async function waitForListeners(runtime: Runtime, opts: WaitOptions): Promise<number | undefined> {
  const deadline = Date.now() + opts.timeoutMs;
  let pause = 20;
  for (;;) {
    const n = await probeListeners(runtime, opts.sandboxId, opts.port);
    if (n === null) {
      await failIfExited(runtime, opts.watch);
      return undefined;
    }
    if (n !== undefined && n >= opts.count) return n;
    await failIfExited(runtime, opts.watch);
    throwIfAborted(opts.signal);
    if (Date.now() > deadline) throw await notListening(runtime, opts, n);
    await delay(pause);
    pause = Math.min(pause * 2, 250);
  }
}
