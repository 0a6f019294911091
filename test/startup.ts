// What the CLI loads before it does anything: --version and --help no engine client at all, an
// engine command dockerode without its BuildKit-session (gRPC, protobufjs) and ssh2 parts, and no
// yaml outside `export`. And the deferred parts still work when they are needed.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { loadDockerode } from '../src/runtime/dockerode.ts';
import { cli, cliPath } from './helpers/cli.ts';
import { engineUnavailable, version } from './helpers/docker.ts';

const require = createRequire(import.meta.url);
// The packages whose loading is measured, by the file Node would load for each.
const HEAVY = {
  dockerode: require.resolve('dockerode'),
  ssh2: createRequire(require.resolve('docker-modem')).resolve('ssh2'),
  grpc: createRequire(require.resolve('dockerode')).resolve('@grpc/grpc-js'),
  protoLoader: createRequire(require.resolve('dockerode')).resolve('@grpc/proto-loader'),
  yaml: require.resolve('yaml'),
};

/** Runs the built CLI with a hook that prints, at exit, which of HEAVY this process loaded. */
function loadedBy(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; loaded: string[]; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'rp-startup-'));
  const hook = join(dir, 'hook.mjs');
  writeFileSync(
    hook,
    `import { createRequire } from 'node:module';
const cache = createRequire(import.meta.url).cache;
const heavy = ${JSON.stringify(HEAVY)};
process.on('exit', () => process.stderr.write('\\nLOADED ' + JSON.stringify(Object.keys(heavy).filter((k) => heavy[k] in cache)) + '\\n'));
`,
  );
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', hook, cliPath, ...args], { env: { ...process.env, ...env } }, (err, _stdout, stderr) => {
      rmSync(dir, { recursive: true, force: true });
      const line = stderr.split('\n').find((l) => l.startsWith('LOADED '));
      resolve({ code: err ? Number((err as { code?: unknown }).code) : 0, loaded: line ? (JSON.parse(line.slice(7)) as string[]) : ['(no report)'], stderr });
    });
  });
}

/** The project's own modules a run of the built CLI loads (ESM: a loader hook records each URL). */
function ownModulesLoadedBy(args: string[]): Promise<{ code: number; modules: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'rp-modules-'));
  const log = join(dir, 'loaded.txt');
  writeFileSync(log, '');
  writeFileSync(join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) { appendFileSync(${JSON.stringify(log)}, url + '\\n'); return next(url, context); }\n`);
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`);
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', join(dir, 'register.mjs'), cliPath, ...args], (err) => {
      const root = new URL('..', import.meta.url).href;
      const modules = readFileSync(log, 'utf8').split('\n').filter((u) => u.startsWith(root) && !u.includes('/node_modules/')).map((u) => u.slice(root.length));
      rmSync(dir, { recursive: true, force: true });
      resolve({ code: err ? Number((err as { code?: unknown }).code) : 0, modules });
    });
  });
}

t.test("a verb's modules load when that verb runs, not for --help or ls", async (t) => {
  const verbs = (modules: string[]): string[] => modules.filter((m) => m.includes('/pod/verbs/')).map((m) => m.replace(/.*\/pod\/verbs\//, '')).sort();
  const help = await ownModulesLoadedBy(['--help']);
  t.equal(help.code, 0, '--help exits 0');
  t.same(verbs(help.modules), ['build-app.js'], `--help loads no verb but build's help text (${help.modules.length} modules of ours)`);
  t.notOk(help.modules.some((m) => m.includes('/pod/ops/') && !m.endsWith('host-ports.js')), '--help loads none of the operations on pods');
  const ls = await ownModulesLoadedBy(['ls', '--runtime', 'process']);
  t.equal(ls.code, 0, 'ls --runtime process exits 0');
  t.same(verbs(ls.modules), ['build-app.js', 'status.js'], `ls loads the status verb only (${ls.modules.length} modules of ours)`);
  const create = await ownModulesLoadedBy(['create', 'bad name!']);
  t.equal(create.code, 2, 'a create that fails on its input exits 2');
  t.ok(verbs(create.modules).includes('create.js'), 'create loads its verb');
});

t.test('--version and --help load no engine client and no yaml', async (t) => {
  for (const args of [['--version'], ['--help'], ['create', '--help']]) {
    const r = await loadedBy(args);
    t.equal(r.code, 0, `${args.join(' ')} exits 0`);
    t.same(r.loaded, [], `${args.join(' ')} loads none of ${Object.keys(HEAVY).join(', ')}`);
  }
});

t.test("--version's short way prints what commander prints", async (t) => {
  // `--debug --version` is not the short way: commander answers it.
  for (const args of [['--version'], ['-V'], ['--debug', '--version']]) {
    const r = await cli(args);
    t.same({ code: r.code, stdout: r.stdout, stderr: r.stderr }, { code: 0, stdout: `${version}\n`, stderr: '' }, args.join(' '));
  }
});

t.test('an engine command loads dockerode, but neither gRPC nor ssh2 nor yaml', async (t) => {
  const why = await engineUnavailable();
  // With no engine, `ls` still makes its engine call and fails on it: the modules loaded are the same.
  const r = await loadedBy(['ls']);
  t.equal(r.code, why ? 3 : 0, why ? `ls fails: ${why}` : 'ls exits 0');
  t.same(r.loaded, ['dockerode'], 'only dockerode of the heavy ones');
});

t.test('an unreachable engine is still reported as such (dockerode loaded in the constructor)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rp-nosock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = await loadedBy(['ls', '--engine-socket', join(dir, 'none.sock'), '--runtime', 'docker']);
  t.equal(r.code, 3, 'exit code 3: the engine cannot be reached');
  t.match(r.stderr, /reuseport-pod: .*none\.sock/, 'the message names the socket');
});

t.test('the deferred parts load and work when called', async (t) => {
  const Docker = loadDockerode();
  const cache = require.cache;
  t.notOk(HEAVY.ssh2 in cache, 'ssh2 not loaded by loading dockerode');
  t.notOk(HEAVY.grpc in cache, '@grpc/grpc-js not loaded by loading dockerode');

  // docker-modem calls its ./ssh for every request to an ssh:// engine: it must answer an http.Agent.
  const ssh = require(join(dirname(require.resolve('docker-modem')), 'ssh.js')) as (opt: object) => unknown;
  const agent = ssh({ host: '127.0.0.1', port: 1, username: 'nobody' });
  t.ok(agent instanceof Agent, 'the ssh stand-in returns the real function\'s http.Agent');
  t.ok(HEAVY.ssh2 in cache, 'ssh2 loaded on first use');

  // dockerode's ./session opens a BuildKit session on the engine: against a socket that is not
  // there, the real function reports the connection error to its callback.
  const withSession = require(join(dirname(require.resolve('dockerode')), 'session.js')) as (d: unknown, auth: unknown, cb: (err: Error | null) => void) => void;
  const dir = mkdtempSync(join(tmpdir(), 'rp-nosock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const docker = new Docker({ socketPath: join(dir, 'none.sock') });
  const err = await new Promise<Error | null>((resolve) => withSession(docker, undefined, resolve));
  t.match(String(err), /ENOENT|connect/, 'the session stand-in runs the real function (which fails to connect)');
  t.ok(HEAVY.grpc in cache, '@grpc/grpc-js loaded on first use');
  t.equal(loadDockerode(), Docker, 'dockerode is loaded once');
});
