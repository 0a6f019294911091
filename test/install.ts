// Installing the package needs no compiler: `npm pack` of this checkout installed by an npm whose
// PATH has no gcc, g++, cc, make or python; the installed library then listens through the
// prebuilt addon (two processes, one port, both answer HTTP). npm prints no install-script warning
// for the package, nothing is compiled, and without a prebuild for the platform listen() says what
// to do (and Node 24's built-in path works without any addon).
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { getNewConnection } from './helpers/http-client.ts';
import { COMPILERS, SERVE, install, pack, run, startServe, stop, type Packed } from './helpers/packed.ts';

const inCI = process.env.CI === 'true';
const prebuildDir = `linux-${process.arch}`;
const node24 = process.env.NODE24 || fileURLToPath(new URL('../.cache/node24/bin/node', import.meta.url));

const p: Packed = await pack();
t.teardown(() => rmSync(p.tmp, { recursive: true, force: true }));

// Both installs before the first subtest: tap ends the file once its subtests are done, even with
// top-level work still pending.
const plain = await install(p, 'app', ['--ignore-scripts']);
const withScripts = await install(p, 'app-scripts', []);

t.test('the bare PATH has node and npm but no compiler, make or python', async (t) => {
  for (const tool of COMPILERS) {
    const r = await run('/bin/sh', ['-c', `command -v ${tool}`], { cwd: p.tmp, env: p.env });
    t.not(r.code, 0, `${tool} is not on the PATH (${r.output.trim() || 'not found'})`);
  }
  const node = await run('/bin/sh', ['-c', 'command -v node && command -v npm'], { cwd: p.tmp, env: p.env });
  t.equal(node.code, 0, 'node and npm are');
});

t.test('npm install --ignore-scripts of the tarball', async (t) => {
  t.equal(plain.code, 0, `installs (${plain.output.trim().split('\n').pop()})`);
  const prebuilds = readdirSync(join(plain.pkg, 'prebuilds')).sort();
  t.same(prebuilds, ['linux-arm64', 'linux-x64', 'pause-linux-arm64', 'pause-linux-x64'], 'ships the prebuilds');
  t.notOk(existsSync(join(plain.pkg, 'build')), 'has no build/ folder: the addon comes from prebuilds/');
});

t.test('two processes of the installed library share one port through the prebuilt addon', async (t) => {
  writeFileSync(join(plain.dir, 'serve.mjs'), SERVE);
  const node = join(p.binDir, 'node');
  const first = await startServe(node, ['serve.mjs', '0', 'addon'], plain.dir, p.env);
  t.teardown(() => stop(first.child));
  t.equal(first.line.ok, true, `first listens: ${JSON.stringify(first.line)}`);
  t.equal(first.line.path, 'addon');
  t.match(String(first.line.addonFile), new RegExp(`/node_modules/reuseport-pod/prebuilds/${prebuildDir}/reuseport-pod\\.glibc\\.node$`), 'node-gyp-build picked the prebuild');
  const port = Number(first.line.port);
  const second = await startServe(node, ['serve.mjs', String(port), 'addon'], plain.dir, p.env);
  t.teardown(() => stop(second.child));
  t.equal(second.line.ok, true, `second listens on the same port ${port}: ${JSON.stringify(second.line)}`);

  const pids = new Set([String(first.line.pid), String(second.line.pid)]);
  const seen = new Map<string, number>();
  for (let i = 0; i < 200 && seen.size < 2; i++) {
    const reply = await getNewConnection(port);
    seen.set(reply.body, (seen.get(reply.body) ?? 0) + 1);
  }
  t.same([...seen.keys()].sort(), [...pids].sort(), `both processes answered on 127.0.0.1:${port} (${JSON.stringify(Object.fromEntries(seen))})`);
});

t.test('npm install with scripts: no install-script warning for the package, nothing compiled', async (t) => {
  t.equal(withScripts.code, 0, `installs without a compiler (${withScripts.output.trim().split('\n').pop()})`);
  // Dependencies of dockerode (ssh2, cpu-features, protobufjs) have their own install scripts; this
  // package must not be among them (npm adds `node-gyp rebuild` for a binding.gyp unless told not to).
  const warnings = withScripts.output.split('\n').filter((l) => /install-scripts/.test(l));
  t.notMatch(warnings.join('\n'), /reuseport-pod@/, `no warning names reuseport-pod:\n${warnings.join('\n')}`);
  t.notOk(existsSync(join(withScripts.pkg, 'build')), 'nothing was built at install');

  t.test('without a prebuild for the platform', async (t) => {
    rmSync(join(withScripts.pkg, 'prebuilds', prebuildDir), { recursive: true });
    writeFileSync(join(withScripts.dir, 'serve.mjs'), SERVE);
    const r = await startServe(join(p.binDir, 'node'), ['serve.mjs', '0', 'addon'], withScripts.dir, p.env);
    t.equal(r.line.ok, false, 'Node 20 with prefer: addon rejects');
    t.equal(r.line.code, 'ERR_REUSEPORT_UNAVAILABLE');
    const message = String(r.line.message);
    t.match(message, new RegExp(`no prebuilt addon for ${prebuildDir} \\(glibc\\)`), 'names the platform');
    t.match(message, new RegExp(`cd ${withScripts.pkg.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} && npx --yes node-gyp rebuild`), 'says how to build it, in which folder');
    t.match(message, /22\.12/, 'names the Node versions with a built-in');
    t.notMatch(message, /npm rebuild/, 'does not send the user to npm rebuild (no install script: it builds nothing)');
    t.notMatch(message, /\n/, 'one line');

    if (!existsSync(node24)) {
      if (inCI) t.fail(`no Node 24 at ${node24}: run scripts/get-node24.sh`);
      else t.comment(`skipped the Node 24 check: no Node 24 at ${node24} (scripts/get-node24.sh)`);
      return;
    }
    const b = await startServe(node24, ['serve.mjs', '0', 'auto'], withScripts.dir, p.env);
    t.teardown(() => stop(b.child));
    t.equal(b.line.ok, true, `Node 24 listens without the addon: ${JSON.stringify(b.line)}`);
    t.equal(b.line.path, 'builtin');
    t.match(String(b.line.addonFile), /^none: /, 'and there really is no addon for it');
    const reply = await getNewConnection(Number(b.line.port));
    t.equal(reply.body, String(b.line.pid), 'and answers HTTP');
  });
});

t.test("the installed bin runs the CLI, and leaves --env-file to it (Node would take it as its own)", async (t) => {
  const bin = join(plain.dir, 'node_modules', '.bin', 'reuseport-pod');
  const version = await run(bin, ['--version'], { cwd: plain.dir, env: p.env });
  t.equal(version.code, 0, `--version exits 0 (${version.output.trim()})`);
  t.match(version.output, /^\d+\.\d+\.\d+/, 'prints the version');
  const missing = await run(bin, ['create', 'x', '--port', '80:8080', '--env-file', 'missing.env'], { cwd: plain.dir, env: p.env });
  t.equal(missing.code, 2, 'a missing env file is a usage error of the CLI (exit 2), not Node\'s exit 9');
  t.match(missing.output, /reuseport-pod: --env-file "missing\.env" does not exist/, "the CLI's own one-line message");
});
