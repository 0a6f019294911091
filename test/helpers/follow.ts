// `reuseport-pod logs NAME -f` as a user runs it: a real process whose stdout the test reads as it
// comes, and whose exit the test waits for. Shared by the engine and the process-runtime tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { cliPath, spread, type CliResult } from './cli.ts';

export interface Follower {
  readonly child: ChildProcess;
  /** Everything printed on stdout so far. */
  text(): string;
  /** Everything printed on stderr so far. */
  errText(): string;
  /** Resolves once `re` matches at least `times` times in stdout; rejects if the process exits first or after timeoutMs. */
  appears(re: RegExp, times?: number, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (or the signal's name); rejects after timeoutMs. */
  exited(timeoutMs?: number): Promise<number | string>;
}

const count = (text: string, re: RegExp): number => [...text.matchAll(new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`))].length;

export function follow(args: string[], env: NodeJS.ProcessEnv = {}, t?: { teardown(fn: () => void): void }): Follower {
  const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  let exit: number | string | undefined;
  const changed = new Set<() => void>();
  const notify = (): void => changed.forEach((f) => f());
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => ((out += chunk), notify()));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  child.on('exit', (code, signal) => ((exit = code ?? signal ?? -1), notify()));
  t?.teardown(() => void (exit === undefined && child.kill('SIGKILL')));

  const until = <T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => (changed.delete(test), reject(new Error(`logs -f: no ${what} within ${timeoutMs} ms; stdout:\n${out}\nstderr:\n${err}`))), timeoutMs);
      const test = (): void => {
        let value: T | undefined;
        try {
          value = check();
        } catch (e) {
          clearTimeout(timer);
          changed.delete(test);
          reject(e);
          return;
        }
        if (value === undefined) return;
        clearTimeout(timer);
        changed.delete(test);
        resolve(value);
      };
      changed.add(test);
      test();
    });

  return {
    child,
    text: () => out,
    errText: () => err,
    appears: (re, times = 1, timeoutMs = 60_000) =>
      until(
        `${times} x ${re}`,
        () => {
          if (count(out, re) >= times) return true;
          if (exit !== undefined) throw new Error(`logs -f exited (${exit}) before ${times} x ${re}; stdout:\n${out}\nstderr:\n${err}`);
          return undefined;
        },
        timeoutMs,
      ).then(() => undefined),
    exited: (timeoutMs = 60_000) => until('exit', () => exit, timeoutMs),
  };
}

export { count };

export interface FollowCase {
  pod: string;
  /** The pod's published host port, for the HTTP checks. */
  port: number;
  /** Runs the built CLI (with the environment of the runtime under test). */
  cli: (args: string[]) => Promise<CliResult>;
  env: NodeJS.ProcessEnv;
  /** Restarts one replica by hand the way its runtime does (docker restart; SIGKILL for a process the keeper restarts). */
  restart: (replica: string, pid: number) => Promise<void>;
  /**
   * Whether the runtime's log stream of a container brings its last lines even when the container
   * is removed right after it stopped. Podman's does not always: its stream ends once the container
   * is gone, and the lines written on SIGTERM may not have been sent (`docker logs -f` against
   * Podman's API loses them the same way), and nothing can read them after the removal.
   */
  lastLinesOfRemoved: boolean;
}

const pidOf = (line: string): number => Number(/pid (\d+)\)\s*$/.exec(line)?.[1] ?? 0);

/**
 * The pod given (2 replicas of the example server, running) is followed by one `logs -f` through
 * a scale up, a restart of a replica, a rollout and rm; a second one is ended with SIGINT. Every
 * step also asks the replicas over HTTP, so that the lines come from servers that really answer.
 */
export async function followsThePod(t: Tap.Test, c: FollowCase): Promise<void> {
  const { pod } = c;
  const listening = (n: number | string): RegExp => new RegExp(`^${pod}-${n} +\\| ${pod}-${n} listening on [^\\n]*$`, 'gm');
  const stopped = (n: number | string): RegExp => new RegExp(`^${pod}-${n} +\\| ${pod}-${n} stopped after draining`, 'gm');
  // The replicas ps lists (a rollout renumbers them), each asked over HTTP.
  const answering = async (count: number): Promise<void> => {
    const ps = await c.cli(['ps', pod, '--json']);
    const names = (JSON.parse(ps.stdout) as { replicas: Array<{ name: string }> }).replicas.map((r) => r.name);
    t.equal(names.length, count, `ps lists ${count} replicas`);
    const want = names.map((n) => `Hello from ${n}`).sort();
    const counts = await spread(c.port, 40 * names.length);
    t.same([...counts.keys()].sort(), want, `exactly ${want.length} replicas answer, no request fails`);
  };
  const f = follow(['logs', pod, '-f'], c.env, t);
  await f.appears(listening(1));
  await f.appears(listening(2));
  t.pass('logs -f shows the replicas that were there when it started');

  const up = await c.cli(['scale', pod, '--replicas', '3', '-q']);
  t.equal(up.code, 0, `scale to 3 (stderr: ${up.stderr.trim()})`);
  await f.appears(listening(3));
  t.pass(`${pod}-3, added by scale after logs -f started, joins it`);
  await answering(3);

  // In a container the server is pid 1 each time: the restart shows as a second start line.
  await c.restart(`${pod}-1`, pidOf(f.text().match(listening(1))?.[0] ?? ''));
  await f.appears(listening(1), 2);
  t.pass(`${pod}-1, restarted, goes on in logs -f`);
  await answering(3);

  const total = (f.text().match(listening('\\d+')) ?? []).length;
  const stops = (f.text().match(stopped('\\d+')) ?? []).length;
  const rolled = await c.cli(['rollout', pod, '--env', 'COLOR=blue', '-q']);
  t.equal(rolled.code, 0, `rollout (stderr: ${rolled.stderr.trim()})`);
  await f.appears(listening('\\d+'), total + 3);
  t.pass('the 3 new replicas joined logs -f');
  if (c.lastLinesOfRemoved) {
    await f.appears(stopped('\\d+'), stops + 3);
    t.pass('the 3 old ones left with their last lines');
  }
  await answering(3);
  t.equal(f.child.exitCode, null, 'logs -f still runs after the rollout: the pod does');

  const interrupted = follow(['logs', pod, '-f', '--tail', '1'], c.env, t);
  await interrupted.appears(listening('\\d+'));
  interrupted.child.kill('SIGINT');
  t.equal(await interrupted.exited(), 0, 'a second logs -f ends on Ctrl-C (SIGINT), exit 0');
  t.equal(f.child.exitCode, null, 'the first one still runs');

  const rm = await c.cli(['rm', pod, '-q']);
  t.equal(rm.code, 0, `rm (stderr: ${rm.stderr.trim()})`);
  t.equal(await f.exited(), 0, 'logs -f ends with exit 0 once the pod is removed');
  if (c.lastLinesOfRemoved) t.equal((f.text().match(stopped('\\d+')) ?? []).length, stops + 6, "it printed every replica's last line before ending");
  else t.comment(`last lines of removed replicas: ${(f.text().match(stopped('\\d+')) ?? []).length - stops} of 6 came through (this engine's log stream may drop them)`);
  // 2 at the start, 1 scaled up, 1 restarted, 3 rolled out: a line read again after the restart
  // (the engine's stream of a restarted container starts from its first line) would make more.
  t.equal((f.text().match(listening('\\d+')) ?? []).length, 7, 'every start line once: none printed twice');
  t.equal(f.errText().split('\n').filter((l) => l.startsWith('reuseport-pod:')).length, 0, `nothing on stderr (${f.errText().trim()})`);
}
