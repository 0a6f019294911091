// Spawns the compiled example server as a real child process and follows its log lines.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const exampleJs = fileURLToPath(new URL('../../dist/examples/http-server.js', import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ExampleProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly stdout: string[];
  readonly stderr: string[];
  readonly exited: Promise<Exit>;
  /** Resolves with the first stdout line (past or future) matching re; rejects on exit or timeout. */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  kill(signal?: NodeJS.Signals): void;
}

/** Anything with tap's teardown, so that every spawned process dies with the test that made it. */
interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

export function spawnExample(t: Teardown, env: Record<string, string>, node = process.execPath): ExampleProcess {
  const child = spawn(node, [exampleJs], {
    cwd: repoRoot,
    // Only what the example reads, so that a developer's PORT or REUSEPORT_POD_PATH does not leak in.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not spawn ${node}`);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters = new Set<(line: string) => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    stdout.push(line);
    for (const w of waiters) w(line);
  });
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));

  let done: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    // 'close' rather than 'exit': by then every log line has been read.
    child.once('close', (code, signal) => {
      done = { code, signal };
      resolve(done);
    });
  });

  t.teardown(async () => {
    if (done) return;
    child.kill('SIGKILL');
    await exited;
  });

  const waitForLine = (re: RegExp, timeoutMs = 10_000): Promise<string> => {
    const seen = stdout.find((line) => re.test(line));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const finish = (fn: () => void) => {
        clearTimeout(timer);
        waiters.delete(onLine);
        fn();
      };
      const onLine = (line: string) => {
        if (re.test(line)) finish(() => resolve(line));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms; stdout: ${JSON.stringify(stdout)} stderr: ${JSON.stringify(stderr)}`))),
        timeoutMs,
      );
      waiters.add(onLine);
      void exited.then(({ code, signal }) =>
        finish(() => reject(new Error(`exited (code ${code}, signal ${signal}) before a line matching ${re}; stdout: ${JSON.stringify(stdout)} stderr: ${JSON.stringify(stderr)}`))),
      );
    });
  };

  return {
    child,
    pid: child.pid,
    stdout,
    stderr,
    exited,
    waitForLine,
    kill: (signal = 'SIGTERM') => {
      child.kill(signal);
    },
  };
}

/** The Node 24 binary to run the builtin-path tests with, or undefined. */
export function findNode24(): string | undefined {
  const candidates = [process.env.NODE24, `${repoRoot}.cache/node24/bin/node`];
  return candidates.find((p): p is string => !!p && existsSync(p));
}
