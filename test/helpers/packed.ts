// The packages as a user gets them: `npm pack` of this checkout's two packages (reuseport-pod and
// the workspace @reuseport-pod/listener), installed into a fresh folder by an npm whose PATH holds
// node, npm and sh only (no gcc, g++, cc, make or python), so that anything that
// would compile at install time fails the install instead of quietly using this machine's compiler.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from './docker.ts';

/** What `command -v` must not find on the bare PATH. */
export const COMPILERS = ['gcc', 'g++', 'cc', 'c++', 'make', 'python3', 'python'];

export interface Run {
  code: number | null;
  output: string;
}

/**
 * The environment of a child that is not tap's: without tap's own variables (NODE_OPTIONS with its
 * loader hooks, coverage, process info: an npm run with them never finished here) and the
 * npm_* variables `npm test` sets (they would steer the inner npm: prefix, user agent, scripts).
 */
export function cleanEnv(path: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_OPTIONS' || k === 'NODE_V8_COVERAGE' || k.toLowerCase().startsWith('npm_') || /^_?TAP/.test(k)) continue;
    env[k] = v;
  }
  env.PATH = path;
  env.npm_config_audit = 'false';
  env.npm_config_fund = 'false';
  env.npm_config_update_notifier = 'false';
  return env;
}

export function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, output: stdout + stderr });
    });
  });
}

/** The npm that runs these tests: its cli.js, found from the PATH tap was started with. */
function npmCli(): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = join(dir, 'npm');
    if (dir && existsSync(candidate)) return realpathSync(candidate);
  }
  throw new Error('npm is not on PATH');
}

export interface Packed {
  /** Temporary folder: the tarballs, bin/, and the install folders. */
  tmp: string;
  /** npm pack of the main package, reuseport-pod. */
  main: string;
  /** npm pack of the workspace packages/listener, @reuseport-pod/listener. */
  listener: string;
  /** The bare PATH: node, npm, npx and sh, nothing else. */
  binDir: string;
  env: NodeJS.ProcessEnv;
}

/** npm pack of this checkout's two packages (after `npm run build`) plus the bare PATH. Remove `tmp` when done. */
export async function pack(): Promise<Packed> {
  const tmp = mkdtempSync(join(tmpdir(), 'reuseport-pod-install-'));
  const binDir = join(tmp, 'bin');
  mkdirSync(binDir);
  const npm = npmCli();
  symlinkSync(process.execPath, join(binDir, 'node'));
  symlinkSync(npm, join(binDir, 'npm'));
  symlinkSync(join(dirname(npm), 'npx-cli.js'), join(binDir, 'npx'));
  // npm runs dependencies' lifecycle scripts with sh -c.
  symlinkSync('/bin/sh', join(binDir, 'sh'));
  const packed = await run(npm, ['pack', '--silent', '--workspaces', '--include-workspace-root', '--pack-destination', tmp], { cwd: repoRoot, env: cleanEnv(process.env.PATH ?? '') });
  const names = packed.output.trim().split('\n').filter((l) => l.endsWith('.tgz'));
  const main = names.find((n) => /^reuseport-pod-\d/.test(n));
  const listener = names.find((n) => /^reuseport-pod-listener-\d/.test(n));
  if (packed.code !== 0 || !main || !listener || !existsSync(join(tmp, main)) || !existsSync(join(tmp, listener))) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`npm pack failed (${packed.code}): ${packed.output}`);
  }
  return { tmp, main: join(tmp, main), listener: join(tmp, listener), binDir, env: cleanEnv(binDir) };
}

export interface Installed extends Run {
  dir: string;
  /** Wall time of `npm install`. */
  seconds: number;
  /** Where an installed package is: pkg('@reuseport-pod/listener'). */
  pkg(name: string): string;
}

/** A fresh app folder with the tarballs installed by the bare-PATH npm, in one `npm install`. */
export async function install(p: Packed, name: string, tarballs: string[], npmArgs: string[]): Promise<Installed> {
  const dir = join(p.tmp, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  const started = process.hrtime.bigint();
  const r = await run(join(p.binDir, 'npm'), ['install', ...tarballs, ...npmArgs], { cwd: dir, env: p.env, timeoutMs: 180_000 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { ...r, dir, seconds, pkg: (pkgName) => join(dir, 'node_modules', pkgName) };
}

/**
 * An HTTP server on 127.0.0.1:PORT through the installed library `from` (reuseport-pod or
 * @reuseport-pod/listener), answering its pid. It prints one JSON line once listening: the
 * ListenResult, the pid and the addon file node-gyp-build picked (from the listener package).
 */
export const serveScript = (from: string): string => `
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { createServer } from '${from}';
const [port, prefer] = [Number(process.argv[2]), process.argv[3] || 'auto'];
const appRequire = createRequire(import.meta.url);
// The listener as the library resolves it: a dependency of reuseport-pod, or the app's own.
const fromDir = dirname(appRequire.resolve('${from}/package.json'));
const listenerDir = dirname(createRequire(fromDir + '/').resolve('@reuseport-pod/listener/package.json'));
let addonFile = null;
try { addonFile = createRequire(listenerDir + '/')('node-gyp-build').resolve(listenerDir); } catch (err) { addonFile = 'none: ' + err.message.split('\\n')[0]; }
try {
  const server = await createServer((req, res) => res.end(String(process.pid)), { port, host: '127.0.0.1', prefer });
  console.log(JSON.stringify({ ok: true, pid: process.pid, ...server.reusePort, addonFile }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, code: err.code, message: err.message, addonFile }));
  process.exit(1);
}
`;

export interface Started {
  child: ChildProcess;
  line: Record<string, unknown>;
}

/** Starts `cmd args` and waits for its first stdout line (JSON); rejects with its output if it exits first. */
export function startServe(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<Started> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${cmd} ${args.join(' ')}: no line within ${timeoutMs} ms; stderr: ${stderr}`)); }, timeoutMs);
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (l) => {
      clearTimeout(timer);
      try {
        resolve({ child, line: JSON.parse(l) as Record<string, unknown> });
      } catch {
        reject(new Error(`not JSON: ${l}; stderr: ${stderr}`));
      }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${cmd} ${args.join(' ')} exited ${code} before printing; stderr: ${stderr}`)); });
  });
}

export function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
