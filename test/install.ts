// Installing the packages needs no compiler: `npm pack` of this checkout's two packages installed by
// an npm whose PATH has no gcc, g++, cc, make or python.
//   (a) An app that only needs listen() installs just @reuseport-pod/listener (two packages: it and
//       node-gyp-build); two processes share one port, on Node 20 through the prebuilt addon and on
//       Node 24 through Node's built-in reusePort.
//   (b) reuseport-pod installs together with the listener's tarball (one `npm install`, as there is
//       no registry with them): its re-export listens, its bin runs, npm prints no install-script
//       warning for either package, nothing is compiled, and without a prebuild for the platform
//       listen() says what to do (and Node 24's built-in path works without any addon).
//   (c) With an engine: the installed CLI's `build` makes the example image (only the listener
//       package, node-gyp-build and the example's JavaScript in it), `create` makes a pod of it that
//       serves, and `rm` leaves nothing. Skipped without an engine, except under CI=true.
// The installs' figures (packages, MB, seconds) are printed; bench/install-size.mjs makes the README's.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import { describeFigures, installedFigures } from '../bench/install-size.mjs';
import { ownPods, podContainers, requireEngine } from './helpers/cli.ts';
import { appFiles, docker, ensureImages, nodeBaseImage, unexpectedAppFiles } from './helpers/docker.ts';
import { freePort, getNewConnection } from './helpers/http-client.ts';
import { COMPILERS, install, pack, run, serveScript, startServe, stop, type Installed, type Packed } from './helpers/packed.ts';

const inCI = process.env.CI === 'true';
const prebuildDir = `linux-${process.arch}`;
const LISTENER = '@reuseport-pod/listener';
const addonFile = new RegExp(`/node_modules/@reuseport-pod/listener/prebuilds/${prebuildDir}/@reuseport-pod\\+listener\\.glibc\\.node$`);
const node24 = process.env.NODE24 || fileURLToPath(new URL('../.cache/node24/bin/node', import.meta.url));
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

const p: Packed = await pack();
t.teardown(() => rmSync(p.tmp, { recursive: true, force: true }));

// Every install before the first subtest: tap ends the file once its subtests are done, even with
// top-level work still pending.
const listenerOnly = await install(p, 'app-listener', [p.listener], ['--ignore-scripts']);
const full = await install(p, 'app', [p.listener, p.main], ['--ignore-scripts']);
const withScripts = await install(p, 'app-scripts', [p.listener, p.main], []);

/** Both processes' pids answered on new connections to 127.0.0.1:port. */
async function bothAnswer(t: Test, port: number, pids: unknown[]): Promise<void> {
  const seen = new Map<string, number>();
  for (let i = 0; i < 200 && seen.size < 2; i++) {
    const reply = await getNewConnection(port);
    seen.set(reply.body, (seen.get(reply.body) ?? 0) + 1);
  }
  t.same([...seen.keys()].sort(), pids.map(String).sort(), `both processes answered on 127.0.0.1:${port} (${JSON.stringify(Object.fromEntries(seen))})`);
}

/** Two processes of `from` (as installed in app) on one port through `prefer`, with `node`. */
async function twoShareAPort(t: Test, app: Installed, from: string, node: string, prefer: 'addon' | 'auto'): Promise<Record<string, unknown>> {
  writeFileSync(join(app.dir, 'serve.mjs'), serveScript(from));
  const first = await startServe(node, ['serve.mjs', '0', prefer], app.dir, p.env);
  t.teardown(() => stop(first.child));
  t.equal(first.line.ok, true, `first listens: ${JSON.stringify(first.line)}`);
  const port = Number(first.line.port);
  const second = await startServe(node, ['serve.mjs', String(port), prefer], app.dir, p.env);
  t.teardown(() => stop(second.child));
  t.equal(second.line.ok, true, `second listens on the same port ${port}: ${JSON.stringify(second.line)}`);
  await bothAnswer(t, port, [first.line.pid, second.line.pid]);
  return first.line;
}

t.test('the bare PATH has node and npm but no compiler, make or python', async (t) => {
  for (const tool of COMPILERS) {
    const r = await run('/bin/sh', ['-c', `command -v ${tool}`], { cwd: p.tmp, env: p.env });
    t.not(r.code, 0, `${tool} is not on the PATH (${r.output.trim() || 'not found'})`);
  }
  const node = await run('/bin/sh', ['-c', 'command -v node && command -v npm'], { cwd: p.tmp, env: p.env });
  t.equal(node.code, 0, 'node and npm are');
});

t.test(`(a) npm install --ignore-scripts of ${LISTENER} alone`, async (t) => {
  t.equal(listenerOnly.code, 0, `installs (${listenerOnly.output.trim().split('\n').pop()})`);
  const figures = { ...(await installedFigures(listenerOnly.dir)), seconds: listenerOnly.seconds };
  t.comment(`${LISTENER} alone: ${describeFigures(figures)} (npm install --ignore-scripts, bare PATH)`);
  t.same(readdirSync(join(listenerOnly.dir, 'node_modules')).filter((n) => !n.startsWith('.')).sort(), ['@reuseport-pod', 'node-gyp-build'], 'node_modules holds the listener and node-gyp-build, nothing else');
  t.equal(figures.packages, 2, 'two packages');
  const pkg = listenerOnly.pkg(LISTENER);
  t.same(readdirSync(join(pkg, 'prebuilds')).sort(), ['linux-arm64', 'linux-x64'], 'ships the addon prebuilds');
  t.notOk(existsSync(join(pkg, 'build')), 'has no build/ folder: the addon comes from prebuilds/');

  t.test('two processes share one port through the prebuilt addon (Node 20)', async (t) => {
    const line = await twoShareAPort(t, listenerOnly, LISTENER, join(p.binDir, 'node'), 'addon');
    t.equal(line.path, 'addon');
    t.match(String(line.addonFile), addonFile, 'node-gyp-build picked the prebuild');
  });

  t.test("two processes share one port through Node 24's built-in reusePort", async (t) => {
    if (!existsSync(node24)) {
      if (inCI) t.fail(`no Node 24 at ${node24}: run scripts/get-node24.sh`);
      else t.comment(`skipped: no Node 24 at ${node24} (scripts/get-node24.sh)`);
      return;
    }
    const line = await twoShareAPort(t, listenerOnly, LISTENER, node24, 'auto');
    t.equal(line.path, 'builtin', "'auto' takes the built-in");
  });
});

t.test('(b) npm install --ignore-scripts of reuseport-pod with the listener tarball', async (t) => {
  t.equal(full.code, 0, `installs (${full.output.trim().split('\n').pop()})`);
  const figures = { ...(await installedFigures(full.dir)), seconds: full.seconds };
  t.comment(`reuseport-pod: ${describeFigures(figures)} (npm install --ignore-scripts, bare PATH)`);
  const main = full.pkg('reuseport-pod');
  t.same(readdirSync(join(main, 'prebuilds')).sort(), ['pause-linux-arm64', 'pause-linux-x64'], 'reuseport-pod ships the pause prebuilds');
  t.same(readdirSync(join(full.pkg(LISTENER), 'prebuilds')).sort(), ['linux-arm64', 'linux-x64'], `the addon prebuilds come with ${LISTENER}`);
  t.notOk(existsSync(join(main, 'node_modules')), `the listener is reuseport-pod's sibling in node_modules, not a second copy inside it`);
  t.notOk(existsSync(join(main, 'dist', 'src', 'listener')), 'reuseport-pod carries no listener code of its own');

  t.test("the installed `build` lays out the example image's context from node_modules", async (t) => {
    // What `build` sends to the engine, made without one: stageContext() of the installed package.
    const staged = join(full.dir, 'staged');
    writeFileSync(join(full.dir, 'stage.mjs'), `
      const { stageContext } = await import(${JSON.stringify(pathToFileURL(join(main, 'dist', 'src', 'pod', 'verbs', 'build-app.js')).href)});
      try { console.log(JSON.stringify({ ok: true, files: stageContext(process.argv[2], process.argv[3]) })); }
      catch (err) { console.log(JSON.stringify({ ok: false, name: err.name, message: err.message })); }
    `);
    const stage = async (arch: string): Promise<Record<string, unknown>> => {
      rmSync(staged, { recursive: true, force: true });
      mkdirSync(staged);
      const r = await run(join(p.binDir, 'node'), ['stage.mjs', staged, arch], { cwd: full.dir, env: p.env });
      return JSON.parse(r.output.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    };
    const ok = await stage(process.arch);
    t.equal(ok.ok, true, `stages: ${JSON.stringify(ok).slice(0, 300)}`);
    const files = (ok.files ?? []) as string[];
    t.ok(files.includes('Dockerfile'), 'Dockerfile.app as the Dockerfile');
    t.same(unexpectedAppFiles(files.filter((f) => f !== 'Dockerfile')), [], 'the rest: the listener package, node-gyp-build and the examples, nothing of the launcher');
    for (const f of ['dist/examples/http-server.js', `node_modules/@reuseport-pod/listener/prebuilds/${prebuildDir}/@reuseport-pod+listener.glibc.node`, 'node_modules/node-gyp-build/index.js']) {
      t.ok(files.includes(f), `has ${f}`);
    }
    const none = await stage('s390x');
    t.equal(none.ok, false, 'an architecture without a prebuild is refused');
    t.equal(none.name, 'PodError');
    t.match(String(none.message), /prebuilds\/linux-s390x missing/, `names what is missing: ${String(none.message)}`);
    t.notMatch(String(none.message), /\n/, 'one line');
  });

  t.test("reuseport-pod's re-export: two processes share one port through the prebuilt addon", async (t) => {
    const line = await twoShareAPort(t, full, 'reuseport-pod', join(p.binDir, 'node'), 'addon');
    t.equal(line.path, 'addon');
    t.match(String(line.addonFile), addonFile, `node-gyp-build picked ${LISTENER}'s prebuild`);
  });
});

t.test('npm install with scripts: no install-script warning for the packages, nothing compiled', async (t) => {
  t.equal(withScripts.code, 0, `installs without a compiler (${withScripts.output.trim().split('\n').pop()})`);
  // Dependencies of dockerode (ssh2, cpu-features, protobufjs) have their own install scripts; these
  // packages must not be among them (npm adds `node-gyp rebuild` for a binding.gyp unless told not to).
  const warnings = withScripts.output.split('\n').filter((l) => /install-scripts/.test(l));
  t.notMatch(warnings.join('\n'), /reuseport-pod/, `no warning names reuseport-pod or ${LISTENER}:\n${warnings.join('\n')}`);
  const pkg = withScripts.pkg(LISTENER);
  t.notOk(existsSync(join(pkg, 'build')), 'nothing was built at install');

  t.test('without a prebuild for the platform', async (t) => {
    rmSync(join(pkg, 'prebuilds', prebuildDir), { recursive: true });
    writeFileSync(join(withScripts.dir, 'serve.mjs'), serveScript('reuseport-pod'));
    const r = await startServe(join(p.binDir, 'node'), ['serve.mjs', '0', 'addon'], withScripts.dir, p.env);
    t.equal(r.line.ok, false, 'Node 20 with prefer: addon rejects');
    t.equal(r.line.code, 'ERR_REUSEPORT_UNAVAILABLE');
    const message = String(r.line.message);
    t.match(message, new RegExp(`no prebuilt addon for ${prebuildDir} \\(glibc\\)`), 'names the platform');
    t.match(message, new RegExp(`\`cd ${escape(withScripts.dir)} && npm install --no-save node-addon-api@8 && npx --yes node-gyp rebuild --directory ${escape(pkg)}\``), "says how to build it: in the app's folder, for the listener's");
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

  t.test("the message's build-from-source command works where there is a compiler", async (t) => {
    const r = await startServe(join(p.binDir, 'node'), ['serve.mjs', '0', 'addon'], withScripts.dir, p.env);
    const command = /`(cd [^`]+)`/.exec(String(r.line.message))?.[1];
    if (!command) return t.fail(`no command in ${JSON.stringify(r.line.message)}`);
    const fullEnv = { ...p.env, PATH: process.env.PATH ?? '' };
    const gxx = await run('/bin/sh', ['-c', 'command -v g++ && command -v make && command -v python3'], { cwd: withScripts.dir, env: fullEnv });
    if (gxx.code !== 0) {
      if (inCI) t.fail('no g++, make or python3 on the PATH (scripts/setup.sh installs them)');
      else t.comment('skipped: no g++, make or python3 on the PATH');
      return;
    }
    const built = await run('/bin/sh', ['-c', command], { cwd: withScripts.dir, env: fullEnv, timeoutMs: 240_000 });
    t.equal(built.code, 0, `${command} exits 0${built.code === 0 ? '' : `: ${built.output.slice(-2000)}`}`);
    const after = await startServe(join(p.binDir, 'node'), ['serve.mjs', '0', 'addon'], withScripts.dir, p.env);
    t.teardown(() => stop(after.child));
    t.equal(after.line.ok, true, `then Node 20 listens through the addon: ${JSON.stringify(after.line)}`);
    t.match(String(after.line.addonFile), /\/node_modules\/@reuseport-pod\/listener\/build\/Release\/reuseport\.node$/, 'the one just built');
  });
});

t.test("the installed bin runs the CLI, and leaves --env-file to it (Node would take it as its own)", async (t) => {
  const bin = join(full.dir, 'node_modules', '.bin', 'reuseport-pod');
  const version = await run(bin, ['--version'], { cwd: full.dir, env: p.env });
  t.equal(version.code, 0, `--version exits 0 (${version.output.trim()})`);
  t.match(version.output, /^\d+\.\d+\.\d+/, 'prints the version');
  const missing = await run(bin, ['create', 'x', '--port', '80:8080', '--env-file', 'missing.env'], { cwd: full.dir, env: p.env });
  t.equal(missing.code, 2, 'a missing env file is a usage error of the CLI (exit 2), not Node\'s exit 9');
  t.match(missing.output, /reuseport-pod: --env-file "missing\.env" does not exist/, "the CLI's own one-line message");
});

t.test("(c) with an engine, the installed CLI's build makes the example image, create a pod of it that serves", async (t) => {
  if (!(await requireEngine(t))) return;
  // The base image --local-base names, made the way CI makes it: the installed `build` would run
  // scripts/build-node-base.sh itself, with bash and docker, which the bare PATH does not have.
  await ensureImages('node-base');
  const bin = join(full.dir, 'node_modules', '.bin', 'reuseport-pod');
  const cwd = full.dir;
  const image = 'wsx-example:test';
  const pod = 'wsx-install';
  t.teardown(() => docker('rmi', image).then(() => undefined, () => undefined));
  await ownPods(t, [pod]);

  const built = await run(bin, ['build', '--tag', image, '--local-base', '--json', '--quiet'], { cwd, env: p.env, timeoutMs: 300_000 });
  t.equal(built.code, 0, `build exits 0: ${built.output.trim().split('\n').slice(-3).join(' | ')}`);
  if (built.code !== 0) return;
  const result = JSON.parse(built.output.slice(built.output.indexOf('{'), built.output.lastIndexOf('}') + 1)) as { image: string; base: string };
  t.same([result.image, result.base], [image, nodeBaseImage], `built ${image} on ${nodeBaseImage}`);
  const files = await appFiles(image);
  t.same(unexpectedAppFiles(files), [], 'the image holds the listener package, node-gyp-build and the examples, nothing of the launcher');
  for (const f of ['dist/examples/http-server.js', 'node_modules/@reuseport-pod/listener/dist/index.js', 'node_modules/node-gyp-build/index.js']) {
    t.ok(files.includes(f), `has ${f}`);
  }

  const port = await freePort();
  const created = await run(bin, ['create', pod, '--port', `127.0.0.1:${port}:8080`, '--replicas', '2', '--image', image, '--monitor', '0'], { cwd, env: p.env, timeoutMs: 180_000 });
  t.equal(created.code, 0, `create exits 0: ${created.output.trim().split('\n').slice(-3).join(' | ')}`);
  const seen = new Map<string, number>();
  for (let i = 0; i < 200 && seen.size < 2; i++) {
    const r = await getNewConnection(port).catch((err: Error) => ({ status: 0, body: `error: ${err.message}` }));
    seen.set(`${r.status} ${r.body.trim()}`, (seen.get(`${r.status} ${r.body.trim()}`) ?? 0) + 1);
  }
  t.same([...seen.keys()].sort(), [`200 Hello from ${pod}-1`, `200 Hello from ${pod}-2`], `both replicas answer on 127.0.0.1:${port} (${JSON.stringify([...seen])})`);

  const removed = await run(bin, ['rm', pod], { cwd, env: p.env, timeoutMs: 120_000 });
  t.equal(removed.code, 0, `rm exits 0: ${removed.output.trim()}`);
  t.same(await podContainers(pod), [], 'nothing of the pod is left');
});
