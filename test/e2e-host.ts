// --mode host, end to end with the built CLI and the real engine: replicas in the host's own network
// namespace, listening on the host's port with SO_REUSEPORT.
//   - 300 new connections to 127.0.0.1:PORT reach all 3 replicas, at least 20% each;
//   - no docker-proxy and no NAT rule for that port; every container has NetworkMode host, the
//     sandbox publishes nothing;
//   - create says once that the host's tcp_migrate_req is 0, and nothing when it is 1;
//   - scale 3 -> 5 -> 1 and a rollout under connection-per-request load lose 0 requests with the
//     host's tcp_migrate_req at 1 (set for this file, the old value put back);
//   - ps/ls/inspect say host; export writes hostNetwork (Kubernetes) and network_mode: host (Compose);
//   - a port something already listens on: exit 5, nothing made; `80:8080`: exit 2 with a hint;
//   - rm leaves nothing.
import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import YAML from 'yaml';
import { cli, ownPods, podContainers, ps, requireEngine, spread } from './helpers/cli.ts';
import { docker, ensureImages, exampleImage, inspect, sleep, waitFor } from './helpers/docker.ts';
import { hostRules } from './helpers/host-rules.ts';
import { freePort } from './helpers/http-client.ts';
import { describe, startLoad, type LoadReport } from './helpers/load.ts';

const PODS = { main: 'e2e-host', warn: 'e2e-host-warn', taken: 'e2e-host-taken' };
const V2 = 'reuseport-pod/example:e2e-host-v2';
const MIGRATE = '/proc/sys/net/ipv4/tcp_migrate_req';

function readMigrate(): string | undefined {
  try {
    return readFileSync(MIGRATE, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Sets the host's tcp_migrate_req until the test ends (then back); false when not allowed here. */
function setMigrate(t: Tap.Test, value: string): boolean {
  const old = readMigrate();
  if (old === undefined) return false;
  try {
    writeFileSync(MIGRATE, value);
  } catch {
    return false;
  }
  t.teardown(() => writeFileSync(MIGRATE, old));
  return true;
}

function processes(): Promise<string> {
  return new Promise((resolve) => execFile('ps', ['-eo', 'args'], (_err, stdout) => resolve(stdout)));
}

async function underLoad(port: number, op: () => ReturnType<typeof cli>): Promise<{ code: number; stderr: string; report: LoadReport }> {
  const load = startLoad({ port, mode: 'connection-per-request', concurrency: 6, maxDurationMs: 60_000, maxRequests: 40_000, timeoutMs: 5_000 });
  await waitFor('the load to warm up', async () => load.completed(), (n) => n >= 50, 10_000);
  const r = await op();
  await sleep(300);
  return { code: r.code, stderr: r.stderr, report: await load.stop() };
}

t.test('--mode host', async (t) => {
  if (!(await requireEngine(t))) return;
  await ensureImages('pause', 'node-base', 'example');
  await docker('tag', exampleImage, V2);
  t.teardown(() => docker('rmi', V2).catch(() => undefined));
  await ownPods(t, Object.values(PODS));

  t.test('bad ports: a mapping is refused with a hint, nothing made', async (t) => {
    const r = await cli(['create', PODS.warn, '--mode', 'host', '--port', '80:8080']);
    t.equal(r.code, 2, 'exit 2');
    t.match(r.stderr, /with --mode host the replicas listen on the host itself, so the host port must equal the container port; use --port 8080/);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    t.same(await podContainers(PODS.warn), [], 'nothing made');
  });

  t.test("create says once what the host's tcp_migrate_req=0 costs", async (t) => {
    if (!setMigrate(t, '0')) {
      if (process.env['CI'] === 'true') t.fail(`CI runs as root and must be able to set ${MIGRATE}`);
      else t.skip(`${MIGRATE} cannot be set here`);
      return;
    }
    const port = await freePort();
    const r = await cli(['create', PODS.warn, '--mode', 'host', '--port', `127.0.0.1:${port}`, '-r', '1', '--monitor', '0']);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stderr.split('\n').filter((l) => /net\.ipv4\.tcp_migrate_req is 0: scale-down and rollout may reset connections/.test(l)).length, 1, 'said once');
    t.match(r.stderr, /sysctl -w net\.ipv4\.tcp_migrate_req=1/, 'with the way out');
    t.equal((await cli(['rm', PODS.warn])).code, 0);
  });

  await t.test('a pod of 3 in the host namespace', async (t) => {
    const lossless = setMigrate(t, '1');
    if (!lossless && process.env['CI'] === 'true') t.fail(`CI runs as root and must be able to set ${MIGRATE}`);
    const pod = PODS.main;
    const port = await freePort();
    const before = await hostRules().catch(() => undefined);
    const created = await cli(['create', pod, '--mode', 'host', '--port', `127.0.0.1:${port}`, '-r', '3', '--json']);
    t.equal(created.code, 0, `create exits 0 (${created.stderr.trim()})`);
    t.notMatch(created.stderr, /tcp_migrate_req/, "the host's value is 1: nothing to say");
    t.equal(JSON.parse(created.stdout).mode, 'host');

    t.test('300 new connections reach all 3 replicas, each at least 20%', async (t) => {
      const counts = await spread(port, 300);
      t.same([...counts.keys()].sort(), [1, 2, 3].map((n) => `Hello from ${pod}-${n}`));
      for (const [who, n] of counts) t.ok(n >= 60, `${who}: ${n} of 300`);
    });

    t.test('no proxy, no NAT, every container in the host namespace', async (t) => {
      t.notMatch(await processes(), new RegExp(`docker-proxy.*-host-port ${port}\\b`), 'no docker-proxy for the port');
      if (before) {
        const now = await hostRules();
        t.same(now.filter((l) => new RegExp(`\\b${port}\\b`).test(l)), [], 'no host rule names the port');
      }
      for (const name of await podContainers(pod)) {
        const hc = await inspect<{ NetworkMode: string; PortBindings: Record<string, unknown> | null }>(name, '.HostConfig');
        if (name.includes('-state-') || name.endsWith('-lock')) continue;
        t.equal(hc.NetworkMode, 'host', `${name}: NetworkMode host`);
        t.same(Object.keys(hc.PortBindings ?? {}), [], `${name}: publishes nothing`);
      }
    });

    t.test('ps, ls and inspect say host', async (t) => {
      const row = (JSON.parse((await cli(['ls', '--json'])).stdout) as Array<{ name: string; mode: string; ready: number; state: string }>).find((p) => p.name === pod);
      t.match(row, { mode: 'host', ready: 3, state: 'running' });
      t.same((await ps(pod)).map((r) => r.health), ['ok', 'ok', 'ok']);
      const inspected = JSON.parse((await cli(['inspect', pod])).stdout) as { mode: string; spec: { mode: string } };
      t.equal(inspected.spec.mode, 'host');
    });

    t.test('export: hostNetwork for Kubernetes, network_mode host for Compose', async (t) => {
      const k = await cli(['export', pod, '--format', 'kubernetes']);
      t.equal(k.code, 0, k.stderr);
      const deployment = YAML.parseAllDocuments(k.stdout).map((d) => d.toJS()).find((d) => d?.kind === 'Deployment');
      t.equal(deployment?.spec.template.spec.hostNetwork, true);
      const c = await cli(['export', pod, '--format', 'compose']);
      t.equal(c.code, 0, c.stderr);
      const services = YAML.parse(c.stdout).services as Record<string, { network_mode?: string }>;
      t.same(Object.keys(services).sort(), [1, 2, 3].map((n) => `${pod}-${n}`), 'one service per replica, no sandbox');
      t.ok(Object.values(services).every((s) => s.network_mode === 'host'), 'all network_mode: host');
    });

    t.test('scale 3 -> 5 -> 1 and a rollout under connection-per-request load lose nothing', async (t) => {
      for (const [what, args] of [
        ['scale to 5', ['scale', pod, '-r', '5', '--monitor', '0']],
        ['scale to 1', ['scale', pod, '-r', '1']],
        ['rollout', ['rollout', pod, '--image', V2, '--monitor', '1']],
      ] as const) {
        const { code, stderr, report } = await underLoad(port, () => cli([...args]));
        t.equal(code, 0, `${what} exits 0 (${stderr.trim().split('\n').at(-1)})`);
        t.comment(`${what}: ${describe(report)}`);
        if (lossless) t.equal(report.failed, 0, `${what}: no request failed (${JSON.stringify(report.failures)})`);
      }
      t.same((await ps(pod)).map((r) => r.image), [V2], 'one replica, of the new image');
    });

    t.test('rm leaves nothing', async (t) => {
      const r = await cli(['rm', pod]);
      t.equal(r.code, 0, r.stderr);
      t.same(await podContainers(pod), []);
    });
  });

  t.test('a port something already listens on: exit 5, nothing made', async (t) => {
    const port = await freePort();
    const server = createServer().listen(port, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    t.teardown(() => new Promise((resolve) => server.close(resolve)));
    const r = await cli(['create', PODS.taken, '--mode', 'host', '--port', `127.0.0.1:${port}`, '-r', '2']);
    t.equal(r.code, 5, 'exit 5');
    t.match(r.stderr, new RegExp(`${port}.* already (in use|has 1 listener)`), `says the port is taken: ${r.stderr.trim()}`);
    t.same(await podContainers(PODS.taken), [], 'nothing made');
  });
});
