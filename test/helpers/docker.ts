// The docker CLI for tests against a real dockerd: run a command, know whether an engine is there,
// make sure the images the tests need exist, and label + remove everything a test creates.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const version: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
export const nodeMajor = process.versions.node.split('.')[0]!;
export const pauseImage = `reuseport-pod/pause:${version}`;
export const nodeBaseImage = `reuseport-pod/node-base:${nodeMajor}`;
export const exampleImage = `reuseport-pod/example:${version}`;
/** busybox httpd, a server without SO_REUSEPORT (scripts/build-httpd-image.sh). */
export const httpdImage = `reuseport-pod/busybox-httpd:${version}`;
/** The NAT helper of --mode dnat pods (scripts/build-nat-image.sh). */
export const natImage = `reuseport-pod/nat:${version}`;

/** Every object a test creates carries this label (the repo-wide convention). */
export const TEST_LABEL = 'io.reuseport-pod.test=1';

export class DockerError extends Error {
  constructor(
    readonly args: string[],
    readonly code: number | string | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`docker ${args.join(' ')} failed (${code}): ${stderr.trim() || stdout.trim()}`);
  }
}

export interface DockerResult {
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `docker ...args`; resolves with trimmed stdout and the wall time, rejects with DockerError. */
export function dockerRun(args: string[], timeoutMs = 120_000): Promise<DockerResult> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    execFile(
      'docker',
      args,
      { timeout: timeoutMs, maxBuffer: 16 << 20, env: { ...process.env, DOCKER_BUILDKIT: '0' } },
      (err, stdout, stderr) => {
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        if (err) reject(new DockerError(args, (err as NodeJS.ErrnoException).code ?? null, stdout, stderr));
        else resolve({ stdout: stdout.trim(), stderr: stderr.trim(), ms });
      },
    );
  });
}

export async function docker(...args: string[]): Promise<string> {
  return (await dockerRun(args)).stdout;
}

/** null when an engine answers, else why not (in words for a skip message). */
export async function engineUnavailable(): Promise<string | null> {
  try {
    await dockerRun(['version', '--format', '{{.Server.Version}}'], 15_000);
    return null;
  } catch (err) {
    const e = err as DockerError;
    if (e.code === 'ENOENT') return 'the docker CLI is not installed';
    return `no Docker engine answers (${(e.stderr || e.message).trim().split('\n')[0]})`;
  }
}

function runScript(script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('bash', [`${repoRoot}scripts/${script}`], { cwd: repoRoot, timeout: 300_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`scripts/${script} failed: ${stderr || stdout}`));
      else resolve();
    });
  });
}

/**
 * Brings the local images up to date with the checkout by running the same scripts as CI (there is
 * no registry to pull from). They are idempotent and fast when nothing changed (about 0.5-1 s
 * each), and a stale image would test yesterday's code. `example` needs `node-base` first.
 */
export async function ensureImages(...which: ('pause' | 'node-base' | 'example' | 'nat' | 'httpd')[]): Promise<void> {
  if (which.includes('example') && !which.includes('node-base')) which = ['node-base', ...which];
  const scripts = { pause: 'build-pause-image.sh', 'node-base': 'build-node-base.sh', example: 'build-app-image.sh', nat: 'build-nat-image.sh', httpd: 'build-httpd-image.sh' } as const;
  for (const name of ['pause', 'node-base', 'example', 'nat', 'httpd'] as const) {
    if (which.includes(name)) await runScript(scripts[name]);
  }
}

/** Anything with tap's teardown. */
interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

/**
 * Containers made through this object carry TEST_LABEL plus a label unique to it, and are all
 * removed (with `docker rm -f`, found by that label, so that even a container whose `docker run`
 * failed half-way goes) in t.teardown, whether the test passed or not. Test files run in parallel:
 * the unique label keeps one file's teardown away from another's containers.
 */
export class TestContainers {
  readonly runLabel = `io.reuseport-pod.test.run=${randomBytes(6).toString('hex')}`;

  constructor(t: Teardown) {
    t.teardown(() => this.removeAll());
  }

  /** `docker run -d --label … args…`; resolves with the container ID. */
  async run(...args: string[]): Promise<string> {
    return docker('run', '-d', '--label', TEST_LABEL, '--label', this.runLabel, ...args);
  }

  async ids(): Promise<string[]> {
    const out = await docker('ps', '-aq', '--no-trunc', '--filter', `label=${this.runLabel}`);
    return out ? out.split('\n') : [];
  }

  async removeAll(): Promise<void> {
    const ids = await this.ids();
    // One `docker rm -f` for the lot: a sandbox removed together with its replicas strands nothing.
    if (ids.length > 0) await docker('rm', '-f', '-v', ...ids);
  }
}

export async function inspect<T = unknown>(id: string, format: string): Promise<T> {
  return JSON.parse(await docker('inspect', '--format', `{{json ${format}}}`, id)) as T;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a value satisfying ok, or throws with the last value after timeoutMs. */
export async function waitFor<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  for (;;) {
    try {
      last = await fn();
      if (ok(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${lastErr ? String(lastErr) : JSON.stringify(last)}`);
    }
    await sleep(50);
  }
}
