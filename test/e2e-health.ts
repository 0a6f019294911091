// Readiness includes the health check, end to end, on real containers. The example server's
// honest self-check (HEALTHY_AFTER_MS: it writes /tmp/healthy N ms after it listens, in its own
// filesystem) makes `test -f /tmp/healthy` pass only some seconds after the replica listens.
//   - create waits for the image's own HEALTHCHECK: it returns no sooner than the delay, with
//     every replica healthy; ps shows HEALTH, ls counts them ready;
//   - flags set the check; scale up puts the same check on the new replica and waits for it;
//   - a replica that turns unhealthy: ps says so, ls no longer counts it, supervise replaces it
//     (new one healthy first) and says when the next replacement may come (back-off);
//   - a rollout to a check that fails (or never passes in time) under load: non-zero exit, the
//     replica and its check's output named, 0 failed requests, the old replicas still serving.
// On Podman 4.3 without systemd the engine never runs a check (runtime/docker-health.ts): there the
// file checks that a check is treated as none, and skips the rest with that reason.
import { spawn } from 'node:child_process';
import t from 'tap';
import { cli, ownPods, ps, requireEngine, spread } from './helpers/cli.ts';
import { docker, engine, ensureImages, exampleImage, inspect, sleep, waitFor } from './helpers/docker.ts';
import { follow } from './helpers/follow.ts';
import { freePort } from './helpers/http-client.ts';
import { describe, startLoad } from './helpers/load.ts';

const PODS = { image: 't-health-image', flags: 't-health-flags', roll: 't-health-roll', podman: 't-health-podman' };
/**
 * The example image as this checkout built it, under a tag of its own: other checkouts on one
 * machine rebuild the shared tag from their own sources, which may lack HEALTHY_AFTER_MS.
 */
const BASE_IMAGE = 'reuseport-pod/example:t-health-base';
/** The same with a HEALTHCHECK that passes HEALTHY_MS after the server listens. */
const HEALTH_IMAGE = 'reuseport-pod/example:t-health';
const HEALTHY_MS = 3000;
const SELF_CHECK = 'test -f /tmp/healthy';
// A start period long enough that the failures before the file exists do not count (Docker's).
const FLAGS = ['--image', BASE_IMAGE, '--env', `HEALTHY_AFTER_MS=${HEALTHY_MS}`, '--health-cmd', SELF_CHECK, '--health-interval', '500ms', '--health-retries', '2', '--health-start-period', '30s'];

interface LsRow {
  name: string;
  ready: number;
  desired: number;
  state: string;
}

async function lsRow(pod: string): Promise<LsRow | undefined> {
  return (JSON.parse((await cli(['ls', '--json'])).stdout) as LsRow[]).find((p) => p.name === pod);
}

/** Builds a local image from a Dockerfile given as text (no context, no registry). */
function buildImage(tag: string, dockerfile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', ['build', '-q', '-t', tag, '-'], { env: { ...process.env, DOCKER_BUILDKIT: '0' }, stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`docker build ${tag} exited ${code}: ${err}`))));
    child.stdin.end(dockerfile);
  });
}

const healthOf = (name: string): Promise<string> => docker('inspect', '-f', '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}', name);

/** HEALTH of each row of `ps POD` as text, by replica name. */
async function psHealthColumn(pod: string): Promise<Record<string, string>> {
  const text = (await cli(['ps', pod])).stdout.trim().split('\n');
  const header = text[0]?.split(/\s+/) ?? [];
  const col = header.indexOf('HEALTH');
  return Object.fromEntries(text.slice(1).map((l) => l.split(/\s+/)).map((cells) => [cells[0], cells[col]]));
}

async function create(pod: string, args: string[]): Promise<{ port: number; ms: number; stderr: string }> {
  const port = await freePort();
  const started = Date.now();
  const r = await cli(['create', pod, '--port', `127.0.0.1:${port}:8080`, '--monitor', '0', ...args]);
  const ms = Date.now() - started;
  if (r.code !== 0) throw new Error(`create ${pod} exited ${r.code}: ${r.stderr}`);
  return { port, ms, stderr: r.stderr };
}

t.test('readiness waits for the health check', async (t) => {
  if (!(await requireEngine(t))) return;
  await ensureImages('pause', 'node-base', 'example');
  await ownPods(t, Object.values(PODS));

  if ((await engine()) === 'podman') {
    t.test('Podman without systemd runs no check: it counts as none', async (t) => {
      // Measured: Podman 4.3's API reports such a check as "starting" for ever, with an empty log.
      // Waiting for it would end in exit 6 at the --wait-timeout: create() throws on any failure.
      const { ms } = await create(PODS.podman, ['--replicas', '2', '--health-cmd', 'exit 1', '--health-interval', '500ms', '--health-retries', '1', '--wait-timeout', '30']);
      t.pass(`create succeeded without waiting for a check that never runs (${ms} ms)`);
      t.equal(await healthOf(`${PODS.podman}-1`), 'starting', 'the engine says "starting" (it has run no check)');
      t.same(await psHealthColumn(PODS.podman), { [`${PODS.podman}-1`]: '-', [`${PODS.podman}-2`]: '-' }, 'ps: no health information');
      t.match(await lsRow(PODS.podman), { ready: 2, desired: 2 });
    });
    t.skip('waiting for healthy, rollout, scale and supervise on health: Podman 4.3 runs health checks from systemd timers only, which this machine lacks');
    return;
  }

  await docker('tag', exampleImage, BASE_IMAGE);
  t.teardown(() => docker('rmi', BASE_IMAGE).then(() => undefined, () => undefined));
  const hook = await docker('run', '--rm', '--entrypoint', 'grep', BASE_IMAGE, '-c', 'HEALTHY_AFTER_MS', 'dist/examples/http-server.js').catch(() => '0');
  if (hook === '0') throw new Error(`${exampleImage} has no HEALTHY_AFTER_MS hook: another checkout rebuilt it; run the test again`);
  await buildImage(HEALTH_IMAGE, `FROM ${BASE_IMAGE}\nENV HEALTHY_AFTER_MS=${HEALTHY_MS}\nHEALTHCHECK --interval=500ms --start-period=30s --retries=2 CMD ${SELF_CHECK}\n`);
  t.teardown(() => docker('rmi', HEALTH_IMAGE).then(() => undefined, () => undefined));

  t.test("create waits for the image's HEALTHCHECK; ps and ls show it", async (t) => {
    const pod = PODS.image;
    const { ms, stderr } = await create(pod, ['--image', HEALTH_IMAGE, '--replicas', '3']);
    const names = [1, 2, 3].map((n) => `${pod}-${n}`);
    // Read at once: create must not have returned before the engine said healthy.
    const states = await Promise.all(names.map(healthOf));
    t.ok(ms >= HEALTHY_MS, `create took ${ms} ms, no less than the ${HEALTHY_MS} ms the check needs`);
    t.same(states, ['healthy', 'healthy', 'healthy'], 'every replica is healthy when create returns');
    t.match(stderr, /Waiting for .* to be healthy \(health check\)/, 'a progress line while it waits');
    t.same(await psHealthColumn(pod), Object.fromEntries(names.map((n) => [n, 'healthy'])), 'ps: HEALTH healthy');
    t.same((await ps(pod)).map((r) => (r as unknown as { healthCheck: string }).healthCheck), ['healthy', 'healthy', 'healthy'], 'ps --json: healthCheck');
    t.match(await lsRow(pod), { ready: 3, desired: 3, state: 'running' });
    const inspected = JSON.parse((await cli(['inspect', pod])).stdout) as { replicas: Array<{ healthCheck: { status: string; failingStreak: number } }> };
    t.same(inspected.replicas.map((r) => r.healthCheck.status), ['healthy', 'healthy', 'healthy'], 'inspect carries it');
  });

  t.test('flags set the check; scale up keeps it and waits for it; unhealthy shows; supervise replaces it', async (t) => {
    const pod = PODS.flags;
    const { ms } = await create(pod, ['--replicas', '2', ...FLAGS]);
    t.ok(ms >= HEALTHY_MS, `create waited for the flags' check (${ms} ms)`);
    const started = Date.now();
    const scaled = await cli(['scale', pod, '--replicas', '3', '--monitor', '0']);
    const scaleMs = Date.now() - started;
    t.equal(scaled.code, 0, `scale exits 0 (${scaled.stderr.trim()})`);
    t.equal(await healthOf(`${pod}-3`), 'healthy', 'the new replica is healthy when scale returns');
    t.ok(scaleMs >= HEALTHY_MS, `scale waited for it (${scaleMs} ms)`);
    t.same(await inspect<{ Test: string[] }>(`${pod}-3`, '.Config.Healthcheck.Test'), ['CMD-SHELL', SELF_CHECK], 'the new replica has the check');

    // The replica's own state goes bad: its check fails, the engine says unhealthy.
    await docker('exec', `${pod}-2`, 'rm', '/tmp/healthy');
    await waitFor(`${pod}-2 to be unhealthy`, () => healthOf(`${pod}-2`), (s) => s === 'unhealthy', 15_000);
    t.same(await psHealthColumn(pod), { [`${pod}-1`]: 'healthy', [`${pod}-2`]: 'unhealthy', [`${pod}-3`]: 'healthy' }, 'ps: HEALTH unhealthy for that one');
    t.match(await lsRow(pod), { ready: 2, desired: 3, state: 'degraded' }, 'ls: the unhealthy replica is not ready');

    const sup = follow(['supervise', pod, '--interval', '1'], {}, t);
    try {
      await sup.appears(new RegExp(`replaced ${pod}-2 \\(unhealthy\\) with ${pod}-4`), 1, 60_000);
      t.pass('supervise replaced the unhealthy replica');
      t.match(sup.text(), /the next replacement of an unhealthy replica waits [\d.]+ s at least \(back-off\)/, 'and says when the next one may come');
      const rows = await ps(pod);
      t.same(rows.map((r) => r.name).sort(), [`${pod}-1`, `${pod}-3`, `${pod}-4`], 'the unhealthy replica is gone, its replacement is there');
      t.equal(await healthOf(`${pod}-4`), 'healthy', 'the replacement is healthy');
      t.match(await lsRow(pod), { ready: 3, desired: 3, state: 'running' });
    } finally {
      sup.child.kill('SIGTERM');
      t.equal(await sup.exited(30_000), 0, 'supervise exits 0 on SIGTERM');
      t.comment(`supervise log:\n${sup.text().trim().replace(/^/gm, '  ')}`);
    }
  });

  t.test('a rollout to a failing check under load: non-zero, 0 failed requests, the old replicas serve', async (t) => {
    const pod = PODS.roll;
    const { port } = await create(pod, ['--image', BASE_IMAGE, '--replicas', '3']);
    const before = (await ps(pod)).map((r) => r.name).sort();
    const ids = await Promise.all(before.map((n) => docker('inspect', '-f', '{{.Id}}', n)));
    const load = startLoad({ port, mode: 'connection-per-request', concurrency: 6, maxDurationMs: 60_000, maxRequests: 40_000, timeoutMs: 5_000 });
    let result;
    try {
      await waitFor('the load to warm up', async () => load.completed(), (n) => n >= 50, 10_000);
      result = await cli(['rollout', pod, '--health-cmd', 'echo database unreachable; exit 1', '--health-interval', '500ms', '--health-retries', '2']);
      await sleep(300);
    } finally {
      await load.stop();
    }
    const report = await load.done;
    t.equal(result.code, 6, 'rollout exits 6 (not ready)');
    t.match(result.stderr, new RegExp(`replica ${pod}-4 is unhealthy`), 'it names the replica');
    t.match(result.stderr, /its last health check \(exit code 1\):\n\s+database unreachable/, "and shows its check's output");
    t.match(result.stderr, /rolled back/, 'and says it rolled back');
    t.comment(describe(report));
    t.ok(report.ok > 100, `the load ran (${report.ok} answers)`);
    t.equal(report.failed, 0, 'no request failed');
    t.same((await ps(pod)).map((r) => r.name).sort(), before, 'the old replicas are the ones there');
    t.same(await Promise.all(before.map((n) => docker('inspect', '-f', '{{.Id}}', n))), ids, 'never stopped or re-created');
    t.same([...(await spread(port, 60)).keys()].sort(), before.map((n) => `Hello from ${n}`), 'and every one of them answers');
    const spec = (JSON.parse((await cli(['inspect', pod])).stdout) as { spec: { options?: { health?: unknown } } }).spec;
    t.equal(spec.options?.health, undefined, 'the recorded spec has no health check again');

    // A check that never passes in time: the --wait-timeout ends the wait.
    const slow = await cli(['rollout', pod, '--health-cmd', 'exit 1', '--health-interval', '500ms', '--health-start-period', '60s', '--wait-timeout', '4']);
    t.equal(slow.code, 6, 'rollout exits 6');
    t.match(slow.stderr, /is not healthy within 4 s \(--wait-timeout\): its health check still says "starting"/);
    t.same((await ps(pod)).map((r) => r.name).sort(), before, 'the old replicas still serve');
  });
});
