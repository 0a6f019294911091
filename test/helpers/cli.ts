// Drives the built CLI as a user would (a real process, real stdout/stderr/exit code), and checks
// what it made with the plain docker CLI, not with the tool's own code.
import { execFile } from 'node:child_process';
import { docker, engineUnavailable, repoRoot } from './docker.ts';
import { getNewConnection } from './http-client.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export const cliPath = `${repoRoot}dist/src/cli/main.js`;
// As bin/reuseport-pod runs it: after "--", so that Node leaves --env-file to the CLI.

export function cli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--', cliPath, ...args], { env: { ...process.env, ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Names of every container carrying the pod's label, any state; `role` narrows to sandbox/replica/state/lock. */
export async function podContainers(pod: string, role?: string): Promise<string[]> {
  const filters = ['--filter', `label=io.reuseport-pod.pod=${pod}`, ...(role ? ['--filter', `label=io.reuseport-pod.role=${role}`] : [])];
  const out = await docker('ps', '-a', ...filters, '--format', '{{.Names}}');
  return out ? out.split('\n').sort() : [];
}

/** Removes a pod's containers whatever state the test left them in (replicas first). */
export async function forceRemovePod(pod: string): Promise<void> {
  const ids = async (...filters: string[]): Promise<string[]> =>
    (await docker('ps', '-aq', '--filter', `label=io.reuseport-pod.pod=${pod}`, ...filters)).split('\n').filter(Boolean);
  // `docker rm` removes its arguments in parallel, and Podman refuses to remove a sandbox while
  // replicas share its namespace: the replicas go in a call of their own, first.
  const replicas = await ids('--filter', 'label=io.reuseport-pod.role=replica');
  if (replicas.length > 0) await docker('rm', '-f', ...replicas);
  const rest = await ids();
  if (rest.length > 0) await docker('rm', '-f', ...rest);
}

/** `n` requests, each on a new connection; counts answers by body. Failures count under "error: ...". */
export async function spread(port: number, n: number, concurrency = 10): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        const key = await getNewConnection(port).then(
          (r) => r.body.trim(),
          (err: Error) => `error: ${err.message}`,
        );
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }),
  );
  return counts;
}

interface SkipOrFail {
  fail(message: string): void;
  skip(message: string): void;
}

/** E2E tests need a real engine: skipped with a hint where there is none, but a failure under CI. */
export async function requireEngine(t: SkipOrFail): Promise<boolean> {
  const why = await engineUnavailable();
  if (why === null) return true;
  const hint = `${why}: install docker.io and start dockerd (bash .ci/run does both)`;
  if (process.env['CI'] === 'true') t.fail(hint);
  else t.skip(hint);
  return false;
}

/** Removes these pods now (leftovers of an earlier run) and again when the test ends, pass or fail. */
export async function ownPods(t: { teardown(fn: () => Promise<void>): void }, pods: string[]): Promise<void> {
  const removeAll = async (): Promise<void> => {
    for (const pod of pods) await forceRemovePod(pod);
  };
  await removeAll();
  t.teardown(removeAll);
}

/** A replica row of `ps NAME --json`. */
export interface PsRow {
  name: string;
  state: string;
  health: string;
  restarts: number;
  image: string;
}

/** The replicas as `ps NAME --json` reports them; throws when ps fails. */
export async function ps(pod: string): Promise<PsRow[]> {
  const r = await cli(['ps', pod, '--json']);
  if (r.code !== 0) throw new Error(`ps ${pod} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout).replicas as PsRow[];
}
