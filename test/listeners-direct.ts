// Readiness without exec: DockerRuntime.countListeners reads the sandbox's /proc/<pid>/net/tcp{,6}
// from the host and must count exactly what the sandbox's own `/pause --listeners` counts, on
// Docker and on Podman's Docker-compatible API; a remote engine must not be read this way.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import { DockerRuntime } from '../src/runtime/docker.ts';
import { engineUnavailable, exampleImage, pauseImage, TEST_LABEL } from './helpers/docker.ts';

const run = promisify(execFile);
const PODMAN = process.env.PODMAN_SOCKET ?? 'unix:///run/reuseport-pod/podman.sock';
const [labelKey, labelValue] = TEST_LABEL.split('=') as [string, string];

t.test('a remote engine is never read through this host\'s /proc', async (t) => {
  const remote = new DockerRuntime({ DOCKER_HOST: 'tcp://192.0.2.1:2375' });
  t.equal(await remote.countListeners('any', 8080), undefined, 'tcp:// engine: unknown, so readiness execs the pause program');
});

async function podmanUp(): Promise<string | null> {
  try {
    await run('docker', ['version', '--format', '{{.Server.Version}}'], { env: { ...process.env, DOCKER_HOST: PODMAN }, timeout: 15_000 });
    return null;
  } catch {
    return `no engine answers at ${PODMAN}`;
  }
}

for (const [engine, host] of [['docker', undefined], ['podman', PODMAN]] as const) {
  t.test(`${engine}: the direct count equals /pause --listeners, as replicas come up`, async (t) => {
    const why = engine === 'docker' ? await engineUnavailable() : await podmanUp();
    // As requireEngine does: no engine is a skip on a developer's machine, a failure under CI.
    if (why) return process.env['CI'] === 'true' ? t.fail(`${why}: .ci/run starts both engines`) : t.skip(why);
    const env = host ? { ...process.env, DOCKER_HOST: host } : process.env;
    const runtime = new DockerRuntime(env);
    if (process.getuid?.() !== 0) return t.skip('not root: /proc/<pid>/ns/net of a container is not readable, readiness execs');
    const name = `rp-direct-${engine}-${process.pid}`;
    const made: string[] = [];
    t.teardown(async () => {
      // Replicas first: Podman refuses to remove a sandbox whose namespace others share.
      for (const id of made.slice(1).concat(made.slice(0, 1))) await runtime.removeContainer(id).catch(() => undefined);
    });
    const sandbox = await runtime.runPodSandbox({ name: `${name}-sandbox`, image: pauseImage, labels: { [labelKey]: labelValue }, ports: [], sysctls: {} });
    made.push(sandbox);
    const viaExec = async (): Promise<number> => Number((await runtime.exec(sandbox, ['/pause', '--listeners', '8080'])).stdout.trim());
    t.equal(await runtime.countListeners(sandbox, 8080), 0, 'no replica: 0');
    t.equal(await viaExec(), 0, 'pause agrees');
    for (const n of [1, 2]) {
      const id = await runtime.createContainer(sandbox, { name: `${name}-${n}`, image: exampleImage, labels: { [labelKey]: labelValue }, env: { PORT: '8080', INSTANCE: `${name}-${n}` }, stopTimeout: 1 });
      made.push(id);
      await runtime.startContainer(id);
      const deadline = Date.now() + 30_000;
      while ((await runtime.countListeners(sandbox, 8080)) !== n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      t.equal(await runtime.countListeners(sandbox, 8080), n, `${n} replica(s) listening: ${n}`);
      t.equal(await viaExec(), n, 'pause agrees');
    }
    t.equal(await runtime.countListeners(sandbox, 9), 0, 'another port: 0');
    await runtime.stopContainer(sandbox, 1);
    t.equal(await runtime.countListeners(sandbox, 8080), undefined, 'a stopped sandbox: unknown (readiness falls back to exec, which fails and is retried)');
  });
}
