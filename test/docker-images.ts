// The local images against a real dockerd: the sandbox (pause) image as PID 1 under a locked-down
// `docker run`, `pause --listeners` counting the listeners of the namespace it owns, the node-base
// image, the example app image as two replicas behind one published port, and the sandbox image as
// the launcher builds it (from the pause prebuilt for the engine's architecture).
// Skips when no engine answers, except under CI (CI=true), where that is a failure.
import t from 'tap';
import * as net from 'node:net';
import * as http from 'node:http';
import {
  DockerError,
  TEST_LABEL,
  appFiles,
  TestContainers,
  docker,
  dockerRun,
  engineUnavailable,
  ensureImages,
  exampleImage,
  inspect,
  nodeBaseImage,
  nodeMajor,
  pauseImage,
  unexpectedAppFiles,
  waitFor,
} from './helpers/docker.ts';

import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSandboxImage, pauseBinary } from '../src/pod/state/images.ts';
import { DockerRuntime } from '../src/runtime/docker.ts';

const inCI = !!process.env.CI && !['0', 'false'].includes(process.env.CI.toLowerCase());
// The sandbox as the launcher should run it: nothing writable, no capabilities, no setuid gains.
const lockedDown = ['--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges'];

interface State {
  Running: boolean;
  ExitCode: number;
  OOMKilled: boolean;
  Pid: number;
}

async function waitStopped(id: string): Promise<State> {
  return waitFor(`${id.slice(0, 12)} to stop`, () => inspect<State>(id, '.State'), (s) => !s.Running);
}

/** `/pause --listeners port` run inside the sandbox's network namespace. */
async function listeners(sandbox: string, port: number): Promise<number> {
  const out = await docker('exec', sandbox, '/pause', '--listeners', String(port));
  if (!/^\d+$/.test(out)) throw new Error(`pause --listeners printed ${JSON.stringify(out)}`);
  return Number(out);
}

async function hostPort(id: string, containerPort: number): Promise<number> {
  // "127.0.0.1:32768" (one line per binding)
  const out = await docker('port', id, `${containerPort}/tcp`);
  const m = /:(\d+)$/m.exec(out);
  if (!m) throw new Error(`no host port for ${containerPort}/tcp: ${out}`);
  return Number(m[1]);
}

/** Connects to 127.0.0.1:port and returns everything the server sends before it closes. */
function readAll(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let data = '';
    s.setEncoding('utf8');
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
    s.on('data', (d) => (data += d));
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
}

/** GET / on a new connection (no keep-alive: the kernel picks a listener per connection). */
function getNew(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

const unavailable = await engineUnavailable();
if (unavailable !== null) {
  if (inCI) t.fail(`CI=${process.env.CI} but ${unavailable}: the image tests need a Docker engine`);
  else t.plan(0, `no Docker engine: ${unavailable}`);
} else {
  await ensureImages('pause', 'node-base');

  t.test('pause image: config', async (t) => {
    const config = await inspect<{ Entrypoint: string[]; User: string; Labels: Record<string, string> }>(pauseImage, '.Config');
    t.same(config.Entrypoint, ['/pause']);
    t.equal(config.Labels['io.reuseport-pod.image'], 'sandbox');
    t.equal(config.User, '65535:65535', 'PID 1 runs unprivileged');
    const out = await docker('run', '--rm', '--network', 'none', ...lockedDown, pauseImage, '--version');
    t.match(out, /^pause \d+\.\d+\.\d+$/, '--version');
  });

  t.test('pause as PID 1: docker stop is fast and exits 0', async (t) => {
    const c = new TestContainers(t);
    const id = await c.run(...lockedDown, pauseImage);
    await waitFor('pause to run', () => inspect<State>(id, '.State'), (s) => s.Running);
    // A `sleep` PID 1 ignores SIGTERM and takes the whole 10 s timeout (docker-facts.md).
    const before = Date.now();
    const { ms } = await dockerRun(['stop', id]);
    const state = await inspect<State & { FinishedAt: string }>(id, '.State');
    // FinishedAt is when the daemon saw PID 1 exit; the rest of `docker stop` is the daemon
    // tearing the container down (network namespace, mounts), which grows with machine load.
    const exitedAfter = Date.parse(state.FinishedAt) - before;
    t.comment(`docker stop returned after ${ms.toFixed(0)} ms; pause had exited ${exitedAfter} ms after the call`);
    // What tells a clean stop from a `sleep` PID 1 is the 10 s SIGKILL; the bound leaves room for
    // a loaded machine's teardown, the exit code and FinishedAt say the rest.
    t.ok(ms < 8000, `docker stop took ${ms.toFixed(0)} ms (< 8000, far from the 10 s kill)`);
    t.ok(exitedAfter < 5000, `pause exited ${exitedAfter} ms after the stop call (< 5000)`);
    t.equal(state.Running, false);
    t.equal(state.ExitCode, 0, 'exit code 0 after SIGTERM');
  });

  for (const signal of ['INT', 'HUP']) {
    t.test(`pause as PID 1: SIG${signal} exits 0`, async (t) => {
      const c = new TestContainers(t);
      const id = await c.run(...lockedDown, pauseImage);
      await waitFor('pause to run', () => inspect<State>(id, '.State'), (s) => s.Running);
      await docker('kill', '--signal', signal, id);
      const state = await waitStopped(id);
      t.equal(state.ExitCode, 0, `exit code 0 after SIG${signal}`);
    });
  }

  t.test('pause as PID 1 reaps orphans re-parented to it', async (t) => {
    const c = new TestContainers(t);
    const sandbox = await c.run(...lockedDown, pauseImage);
    // A container in the sandbox's PID namespace: its orphans go to the namespace's PID 1, pause.
    const peer = await c.run('--pid', `container:${sandbox}`, '--network', 'none', nodeBaseImage, 'sleep', '300');
    // Each process as [pid, ppid, state, comm], read from the shared namespace's /proc.
    const ps = async (): Promise<[number, number, string, string][]> =>
      JSON.parse(
        await docker(
          'exec', peer, 'node', '-e',
          `const fs=require('fs');const r=[];for(const p of fs.readdirSync('/proc')){if(!/^\\d+$/.test(p))continue;` +
            `let s;try{s=fs.readFileSync('/proc/'+p+'/stat','utf8')}catch{continue}` +
            `const i=s.lastIndexOf(')');const f=s.slice(i+2).split(' ');r.push([+p,+f[1],f[0],s.slice(s.indexOf('(')+1,i)])}` +
            `console.log(JSON.stringify(r))`,
        ),
      );
    // The shell exits at once; its `sleep 5` children become orphans. 5 s: they must still be there
    // when the next exec (a node start, slow on a loaded machine) reads /proc.
    await docker('exec', peer, 'sh', '-c', 'for i in 1 2 3; do sleep 5 </dev/null >/dev/null 2>&1 & done; exit 0');
    const before = await ps();
    t.equal(before.find(([pid]) => pid === 1)?.[3], 'pause', 'pause is PID 1 of the namespace');
    const orphans = before.filter(([, ppid, , comm]) => comm === 'sleep' && ppid === 1);
    t.equal(orphans.length, 3, `three orphaned sleeps now children of PID 1: ${JSON.stringify(before)}`);
    // After they exit, no zombie (state Z) may be left: pause waited for them.
    const after = await waitFor(
      'the orphans to be reaped',
      ps,
      (list) => !list.some(([pid]) => orphans.some(([o]) => o === pid)),
      20_000,
    );
    t.notOk(after.some(([, , state]) => state === 'Z'), `no zombies: ${JSON.stringify(after)}`);
    t.equal((await inspect<State>(sandbox, '.State')).Running, true, 'pause still running');
  });

  t.test('pause --listeners counts the listeners of its namespace', async (t) => {
    const c = new TestContainers(t);
    const P = 8080;
    const Q = 8081;
    const unused = 8082;
    const sandbox = await c.run(...lockedDown, '-p', `127.0.0.1::${P}`, pauseImage);
    t.equal(await listeners(sandbox, P), 0, 'nothing listens yet');
    // Node 20 has no reusePort: one listener per port. Q on [::] to cover /proc/net/tcp6.
    const server = (host: string, port: number, name: string) =>
      c.run('--network', `container:${sandbox}`, nodeBaseImage, 'node', '-e',
        `require('net').createServer((s) => s.end(${JSON.stringify(name)})).listen({ port: ${port}, host: ${JSON.stringify(host)} })`);
    const onP = await server('0.0.0.0', P, 'P');
    await server('::', Q, 'Q');
    await waitFor('both listeners', async () => [await listeners(sandbox, P), await listeners(sandbox, Q)], ([p, q]) => p === 1 && q === 1);
    t.equal(await listeners(sandbox, P), 1, `1 listener on ${P} (IPv4)`);
    t.equal(await listeners(sandbox, Q), 1, `1 listener on ${Q} (IPv6)`);
    t.equal(await listeners(sandbox, unused), 0, `0 on unused ${unused}`);
    // The published port reaches the listener in the sandbox's namespace.
    t.equal(await readAll(await hostPort(sandbox, P)), 'P', 'published port reaches the P listener');

    await docker('kill', onP);
    const [p, q] = await waitFor('P listener to go', async () => [await listeners(sandbox, P), await listeners(sandbox, Q)], ([p]) => p === 0);
    t.equal(p, 0, `0 on ${P} after its server was killed`);
    t.equal(q, 1, `still 1 on ${Q}`);

    const bad = await dockerRun(['exec', sandbox, '/pause', '--listeners', '0']).then(
      () => null,
      (e: DockerError) => e,
    );
    t.equal(bad?.code, 2, 'a bad port exits 2');
  });

  t.test('node-base image', async (t) => {
    const config = await inspect<{ Cmd: string[]; Labels: Record<string, string> }>(nodeBaseImage, '.Config');
    t.same(config.Cmd, ['node']);
    t.equal(config.Labels['io.reuseport-pod.image'], 'node-base');
    const v = await docker('run', '--rm', '--network', 'none', nodeBaseImage, 'node', '-e', 'console.log(process.version)');
    t.match(v, new RegExp(`^v${nodeMajor}\\.`), `node ${v}`);
    // USER 1000:1000 (Dockerfile.app) must resolve to `node`, with a home and a writable /tmp.
    const who = JSON.parse(
      await docker('run', '--rm', '--network', 'none', '--user', '1000:1000', nodeBaseImage, 'node', '-e',
        `const fs=require('fs'),os=require('os');fs.writeFileSync('/tmp/x','x');` +
          `console.log(JSON.stringify({user:os.userInfo().username,home:os.homedir(),tmp:(fs.statSync('/tmp').mode&0o7777).toString(8)}))`),
    );
    t.same(who, { user: 'node', home: '/home/node', tmp: '1777' });
    t.equal(await docker('run', '--rm', '--network', 'none', nodeBaseImage, 'sh', '-c', 'echo ok'), 'ok', 'busybox sh');
  });

  t.test('example image: two replicas share the sandbox port', async (t) => {
    await ensureImages('example');
    const config = await inspect<{ User: string; Env: string[]; ExposedPorts: Record<string, unknown>; Cmd: string[] }>(exampleImage, '.Config');
    t.equal(config.User, '1000:1000');
    t.ok(config.Env.includes('HOST=0.0.0.0') && config.Env.includes('PORT=8080'), 'HOST and PORT set');
    t.ok('8080/tcp' in config.ExposedPorts, 'exposes 8080');
    const files = await appFiles(exampleImage);
    t.same(unexpectedAppFiles(files), [], 'holds the listener package, node-gyp-build and the examples, nothing of the launcher');
    t.ok(files.includes('dist/examples/http-server.js'), `has the example (${files.length} files)`);

    const c = new TestContainers(t);
    const sandbox = await c.run(...lockedDown, '-p', '127.0.0.1::8080', pauseImage);
    const [web1] = await Promise.all(
      ['web-1', 'web-2'].map((name) => c.run('--network', `container:${sandbox}`, '-e', `INSTANCE=${name}`, exampleImage)),
    );
    await waitFor('two listeners on 8080', () => listeners(sandbox, 8080), (n) => n === 2, 20_000).catch(async (err) => {
      for (const id of await c.ids()) t.comment(`logs ${id.slice(0, 12)}:\n${(await dockerRun(['logs', id]).catch((e) => e)).stderr}`);
      throw err;
    });
    const port = await hostPort(sandbox, 8080);
    const seen = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const r = await getNew(port);
      seen.set(`${r.status} ${r.body.trim()}`, (seen.get(`${r.status} ${r.body.trim()}`) ?? 0) + 1);
    }
    t.same([...seen.keys()].sort(), ['200 Hello from web-1', '200 Hello from web-2'], `both replicas answer: ${JSON.stringify([...seen])}`);

    const { ms } = await dockerRun(['stop', web1!]);
    t.equal((await inspect<State>(web1!, '.State')).ExitCode, 0, `replica drained and exited 0 on docker stop (${ms.toFixed(0)} ms)`);
    t.equal(await listeners(sandbox, 8080), 1, 'one listener left');
    t.equal((await getNew(port)).body.trim(), 'Hello from web-2', 'the other replica keeps serving');
  });

  t.test("the launcher builds the sandbox image from the pause prebuilt for the engine's architecture", async (t) => {
    const runtime = new DockerRuntime();
    const { arch } = await runtime.info();
    t.match(arch, /^(x86_64|amd64|aarch64|arm64)$/, `the engine reports its architecture (${arch})`);
    // A tag of this test's own: the shared reuseport-pod/pause:<version> stays as the scripts made it.
    const tag = `reuseport-pod-test/pause-prebuilt:${process.pid}`;
    t.teardown(() => docker('rmi', '-f', tag).catch(() => undefined));
    const progress: string[] = [];
    await buildSandboxImage({ runtime, version: 'test', progress: (l) => progress.push(l), warn: () => undefined }, tag);
    t.match(progress.join('\n'), `Building sandbox image ${tag}`);
    t.match(await docker('run', '--rm', '--network', 'none', ...lockedDown, tag, '--version'), /^pause \d+\.\d+\.\d+$/, 'it runs as the locked-down sandbox');

    const dir = mkdtempSync(join(tmpdir(), 'reuseport-pod-pause-cp-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const id = await docker('create', '--label', TEST_LABEL, tag);
    t.teardown(() => docker('rm', '-f', id).catch(() => undefined));
    await docker('cp', `${id}:/pause`, join(dir, 'pause'));
    const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
    t.equal(sha(join(dir, 'pause')), sha(pauseBinary(arch)), `its /pause is ${pauseBinary(arch).replace(/.*\//, 'prebuilds/')}, byte for byte`);
  });
}
