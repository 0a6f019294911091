// A replica is ready when its listener shows up in the pod's network namespace. The sandbox's
// pause program counts LISTEN sockets on a port (`/pause --listeners PORT`), so readiness works
// for any replica image and any engine that can exec, and never needs a fixed sleep. Where the
// runtime can read that namespace's /proc/<pid>/net/tcp{,6} itself (a local engine, as root), it
// counts the same sockets without an exec, which is cheap enough to poll every few ms.
import { setTimeout as delay } from 'node:timers/promises';
import type { ContainerStatus, Runtime } from '../../runtime/runtime.ts';
import { ExitCode, PodError, throwIfAborted } from '../../errors.ts';
import { LABEL } from '../model/names.ts';

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

/** Polls when the runtime reads the count itself: about 0.1 ms of CPU per look. */
const DIRECT_POLL_MS = 5;
/** How often a direct poll also checks that no watched replica exited (each check inspects them all). */
const EXIT_CHECK_MS = 100;

/** The count, `null` when the sandbox has no way to count (not our pause), `undefined` on a passing failure. */
export async function probeListeners(runtime: Runtime, sandboxId: string, port: number): Promise<number | null | undefined> {
  return (await probe(runtime, sandboxId, port)).n;
}

async function probe(runtime: Runtime, sandboxId: string, port: number): Promise<{ n: number | null | undefined; direct: boolean }> {
  const direct = await runtime.countListeners?.(sandboxId, port).catch(() => undefined);
  if (direct !== undefined) return { n: direct, direct: true };
  return { n: await execProbe(runtime, sandboxId, port), direct: false };
}

async function execProbe(runtime: Runtime, sandboxId: string, port: number): Promise<number | null | undefined> {
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

export async function lastLogLines(runtime: Runtime, id: string, lines = 10): Promise<string> {
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

/** Who a replica runs as: the value compared, in words, and as a Dockerfile's USER. */
interface Identity {
  key: string;
  words: string;
  user: string;
}

/**
 * The kernel's own view (`uid`) is compared when both sides have it; else the configured user,
 * where '' (the image default) and "root" are uid 0 and any other name stays a name.
 */
function identity(s: ContainerStatus, kernel: boolean): Identity | undefined {
  const byUid = (uid: number): Identity => ({ key: `uid:${uid}`, words: `uid ${uid}`, user: String(uid) });
  if (kernel) return s.user?.uid === undefined ? undefined : byUid(s.user.uid);
  const configured = s.user?.configured;
  if (configured === undefined) return undefined;
  const user = configured.split(':')[0] ?? '';
  const uid = user === '' || user === 'root' ? 0 : /^\d+$/.test(user) ? Number(user) : undefined;
  return uid === undefined ? { key: `name:${user}`, words: `user "${user}"`, user } : byUid(uid);
}

/**
 * An EADDRINUSE on a port its siblings share reads like a missing SO_REUSEPORT, but the kernel also
 * refuses a socket of another effective UID into the group: say so when the users differ.
 */
async function otherUserHint(runtime: Runtime, failed: ContainerStatus, watch: WaitOptions['watch']): Promise<string | undefined> {
  // Replicas with namespaces of their own (DNAT pods) share no port with each other.
  if (!failed.networkMode.startsWith('container:')) return undefined;
  const pod = failed.labels[LABEL.pod];
  if (pod === undefined) return undefined;
  const watched = new Set(watch.map((w) => w.id));
  const siblings = (await runtime.listContainers({ [LABEL.pod]: pod, [LABEL.role]: 'replica' })).filter((c) => c.state === 'running' && !watched.has(c.id));
  const others = (await Promise.all(siblings.map((c) => runtime.containerStatus(c.id).catch(() => undefined)))).filter((c): c is ContainerStatus => c !== undefined);
  if (others.length === 0) return undefined;
  const kernel = failed.user?.uid !== undefined && others.every((o) => o.user?.uid !== undefined);
  const own = identity(failed, kernel);
  const theirs = others.map((o) => identity(o, kernel)).filter((i): i is Identity => i !== undefined);
  if (!own || theirs.length === 0 || theirs.some((i) => i.key === own.key)) return undefined;
  const distinct = [...new Map(theirs.map((i) => [i.key, i])).values()];
  const fix = distinct.length === 1 ? `run it as ${distinct[0]!.words} too (\`USER ${distinct[0]!.user}\` in its Dockerfile)` : 'run every replica as one user';
  return `  it runs as ${own.words}, the pod's replicas as ${list(distinct.map((i) => i.words))}: the kernel shares a port only among sockets of one effective UID; ${fix}`;
}

export async function failIfExited(runtime: Runtime, watch: WaitOptions['watch']): Promise<void> {
  // Inspected all at once (readiness waits for this), then judged in order.
  const statuses = await Promise.all(watch.map((w) => runtime.containerStatus(w.id)));
  for (const [i, w] of watch.entries()) {
    const s = statuses[i]!;
    if (s.state === 'exited' || s.state === 'dead' || s.state === 'restarting' || s.restartCount > 0) {
      const [logs, code] = await Promise.all([lastLogLines(runtime, w.id), s.exitCode ?? runtime.lastExitCode?.(w.id).catch(() => undefined)]);
      const users = /EADDRINUSE/.test(logs) ? await otherUserHint(runtime, s, watch).catch(() => undefined) : undefined;
      throw new PodError(
        `replica ${w.name} exited${code === undefined ? '' : ` with code ${code}`} before it was listening` +
          (logs ? `; its last log lines:\n${logs}` : ' and logged nothing') +
          `\n${users ?? `  ${SO_REUSEPORT_HINT}`}`,
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
  let exitsChecked = 0;
  // With direct looks, exited replicas are checked in the background: the inspections take
  // 5-100 ms (more on a busy machine), and the looks must not wait for them.
  const exits: { running?: Promise<void>; failed?: { error: unknown } } = {};
  const throwIfExited = (): void => {
    if (exits.failed) throw exits.failed.error;
  };
  for (;;) {
    throwIfExited();
    const { n, direct } = await probe(runtime, opts.sandboxId, opts.port);
    if (n === null) {
      await failIfExited(runtime, opts.watch);
      return undefined;
    }
    if (n !== undefined && n >= opts.count) return n;
    throwIfAborted(opts.signal);
    if (Date.now() > deadline) {
      await exits.running;
      throwIfExited();
      await failIfExited(runtime, opts.watch);
      throw await notListening(runtime, opts, n);
    }
    if (direct) {
      // A look costs next to nothing: look often; one exit check at a time, every EXIT_CHECK_MS.
      if (!exits.running && Date.now() - exitsChecked >= EXIT_CHECK_MS) {
        exitsChecked = Date.now();
        exits.running = failIfExited(runtime, opts.watch).then(
          () => {
            exits.running = undefined;
          },
          (error: unknown) => {
            exits.failed = { error };
          },
        );
      }
      await delay(DIRECT_POLL_MS);
    } else {
      // Each look is an exec in the sandbox: back off.
      await failIfExited(runtime, opts.watch);
      await delay(pause);
      pause = Math.min(pause * 2, 250);
    }
  }
}
