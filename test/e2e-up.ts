// `up` and `down` end to end: the user's own Compose file, read by the real docker-compose
// (Debian's 1.29), run as pods on the real dockerd, checked with plain HTTP on 127.0.0.1 and with
// the docker CLI.
//   - the seed's scenario side by side: docker-compose's `--scale app=2` fails on the published
//     port; `up --scale app=2` serves it from 2 replicas; `down` leaves nothing;
//   - a two-service project: the pod's replicas reach `backend` (started by docker-compose) by its
//     name over the project's network; interpolation from .env and from the shell, $$ escapes;
//     `up` twice changes nothing; `up` after the env or the image changed replaces every replica
//     with 0 failed requests; --scale 5 then 2, lossless; down keeps the network backend still uses;
//   - `export --format compose` of the pod, taken back by `up`: up to date, the same containers;
//   - two -f files merged, a named volume made with Compose's labels and removed only with --volumes;
//   - a key a pod cannot honour, and a file Compose refuses: one line, exit 2, nothing made.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { cli, forceRemovePod, podContainers, requireEngine, spread, type CliResult } from './helpers/cli.ts';
import { docker, dockerRun, ensureImages, exampleImage, inspect, sleep, waitFor } from './helpers/docker.ts';
import { freePort, getNewConnection } from './helpers/http-client.ts';
import { describe, startLoad, type LoadReport } from './helpers/load.ts';

const V1 = 'reuseport-pod/example:t-up-v1';
const V2 = 'reuseport-pod/example:t-up-v2';
const PROJECTS = ['e2e-up-seed', 'e2e-up-two', 'e2e-up-merge', 'e2e-up-bad', 'e2e-up-invalid', 'e2e-up-noimage', 'e2e-up-deps'];
const SERVICES = ['app', 'api'];

const root = mkdtempSync(join(tmpdir(), 'e2e-up-'));

/** A project folder named as the project: Compose derives the name from it. */
function project(name: string, files: Record<string, string>): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

function compose(dir: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile('docker-compose', args, { cwd: dir, env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) || 1 : 0, stdout, stderr });
    });
  });
}

const ids = async (pod: string): Promise<string[]> =>
  (await docker('ps', '-q', '--no-trunc', '--filter', `label=io.reuseport-pod.pod=${pod}`, '--filter', 'label=io.reuseport-pod.role=replica')).split('\n').filter(Boolean).sort();

const exists = (kind: 'network' | 'volume', name: string): Promise<boolean> => dockerRun([kind, 'inspect', name]).then(() => true, () => false);
const networkExists = (name: string): Promise<boolean> => exists('network', name);
const volumeExists = (name: string): Promise<boolean> => exists('volume', name);

/** Whatever a failed test left: the pods, docker-compose's containers, the projects' networks and volumes. */
async function cleanUp(): Promise<void> {
  for (const p of PROJECTS) {
    for (const s of SERVICES) await forceRemovePod(`${p}-${s}`);
    const left = (await docker('ps', '-aq', '--filter', `label=com.docker.compose.project=${p}`)).split('\n').filter(Boolean);
    if (left.length > 0) await docker('rm', '-f', ...left);
    for (const n of (await docker('network', 'ls', '-q', '--filter', `label=com.docker.compose.project=${p}`)).split('\n').filter(Boolean)) await docker('network', 'rm', n);
    for (const v of (await docker('volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${p}`)).split('\n').filter(Boolean)) await docker('volume', 'rm', v);
  }
}

/** Runs `op` under connection-per-request load on the port: warm-up first, a short tail after. */
async function underLoad(port: number, op: () => Promise<CliResult>): Promise<{ result: CliResult; report: LoadReport }> {
  const load = startLoad({ port, mode: 'connection-per-request', concurrency: 6, maxDurationMs: 90_000, maxRequests: 60_000, timeoutMs: 5_000 });
  try {
    await waitFor('the load to warm up', async () => load.completed(), (n) => n >= 50, 10_000);
    const result = await op();
    await sleep(300);
    return { result, report: await load.stop() };
  } finally {
    await load.stop();
  }
}

const failures = (r: LoadReport): string =>
  r.records
    .filter((x) => !x.ok)
    .slice(0, 5)
    .map((x) => `${x.failure} (${x.detail ?? ''})`)
    .join('; ');

t.test('up and down with docker-compose', async (t) => {
  if (!(await requireEngine(t))) return;
  if ((await compose(root, ['version', '--short'])).code !== 0) {
    t.fail('docker-compose is not installed (apt-get install docker-compose)');
    return;
  }
  await ensureImages('pause', 'node-base', 'example');
  // Our own tags, taken at once: other checkouts rebuild the shared example tag from their code.
  await docker('tag', exampleImage, V1);
  await docker('tag', exampleImage, V2);
  await cleanUp();
  t.teardown(async () => {
    await cleanUp();
    await docker('rmi', V1, V2).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  });

  t.test("the seed's scenario: docker-compose --scale fails on the port, up --scale serves it", async (t) => {
    const port = await freePort();
    const dir = project('e2e-up-seed', { 'docker-compose.yml': `services:\n  app:\n    image: ${V1}\n    ports:\n      - "127.0.0.1:${port}:8080"\n` });
    const file = join(dir, 'docker-compose.yml');
    const c = await compose(dir, ['up', '-d', '--scale', 'app=2']);
    t.not(c.code, 0, 'docker-compose up --scale app=2 fails');
    t.match(c.stderr, /port is already allocated/, 'on the published port');
    t.equal((await compose(dir, ['down'])).code, 0, 'docker-compose down cleans its own attempt');

    const up = await cli(['up', '-f', file, '--scale', 'app=2', '--monitor', '1']);
    t.equal(up.code, 0, `up --scale app=2 exits 0 (stderr: ${up.stderr.trim().split('\n').at(-1)})`);
    t.match(up.stdout, /^network e2e-up-seed_default created$/m, 'the default network, made');
    t.match(up.stdout, new RegExp(`^pod e2e-up-seed-app created: 2 replicas of ${V1} on 127\\.0\\.0\\.1:${port}:8080`, 'm'));
    const counts = await spread(port, 300);
    t.same([...counts.keys()].sort(), ['Hello from e2e-up-seed-app-1', 'Hello from e2e-up-seed-app-2'], 'both replicas answer, nothing fails');
    for (const [who, n] of counts) t.ok(n >= 60, `${who}: ${n} of 300 connections (at least 20%)`);
    const labels = await inspect<Record<string, string>>('e2e-up-seed_default', '.Labels');
    t.match(labels, { 'com.docker.compose.project': 'e2e-up-seed', 'com.docker.compose.network': 'default' }, "the network carries Compose's labels");
    const ls = JSON.parse((await cli(['ls', '--json'])).stdout) as Array<{ name: string; project?: string }>;
    t.equal(ls.find((p) => p.name === 'e2e-up-seed-app')?.project, 'e2e-up-seed', 'ls shows the project');

    // The round trip: the exported file, taken back by up, is the same pod.
    const before = await ids('e2e-up-seed-app');
    const exported = join(dir, 'exported.yml');
    const ex = await cli(['export', 'e2e-up-seed-app', '--format', 'compose', '-o', exported]);
    t.equal(ex.code, 0, `export --format compose exits 0 (${ex.stderr.trim()})`);
    const again = await cli(['up', '-p', 'e2e-up-seed', '-f', exported]);
    t.equal(again.code, 0, `up -f the exported file exits 0 (${again.stderr.trim().split('\n').at(-1)})`);
    t.match(again.stdout, new RegExp(`^pod e2e-up-seed-app is up to date \\(2 replicas of ${V1} on 127\\.0\\.0\\.1:${port}:8080\\)$`, 'm'), 'the exported file is the same pod: up to date');
    t.same(await ids('e2e-up-seed-app'), before, 'the same containers');

    const down = await cli(['down', '-f', file]);
    t.equal(down.code, 0, `down exits 0 (${down.stderr.trim()})`);
    t.match(down.stdout, /removed 1 pod \(e2e-up-seed-app; 4 containers/);
    t.same(await podContainers('e2e-up-seed-app'), [], 'no container of the pod is left');
    t.notOk(await networkExists('e2e-up-seed_default'), 'the network is gone');
  });

  t.test('two services: the pod reaches backend by name; up converges, losslessly', async (t) => {
    const port = await freePort();
    const dir = project('e2e-up-two', {
      'docker-compose.yml': [
        'services:',
        '  app:',
        '    image: reuseport-pod/example:${TAG}',
        `    ports: ["127.0.0.1:${port}:8080"]`,
        '    deploy: {replicas: 3}',
        '    stop_grace_period: ${GRACE:-5s}',
        '    environment:',
        '      UPSTREAM: http://backend:8080/',
        '      MESSAGE: ${MESSAGE:-unset}',
        '      PRICE: "5$$"',
        '  backend:',
        `    image: ${V1}`,
        '    environment: {INSTANCE: the-backend}',
        '',
      ].join('\n'),
      '.env': 'TAG=t-up-v1\nMESSAGE=from-dotenv\n',
    });
    const file = join(dir, 'docker-compose.yml');
    const env: NodeJS.ProcessEnv = { MESSAGE: undefined, TAG: undefined, GRACE: undefined };
    const up = await cli(['up', '-f', file, '--monitor', '1'], env);
    t.equal(up.code, 0, `up exits 0 (${up.stderr.trim().split('\n').at(-1)})`);
    t.match(up.stdout, new RegExp(`^not pods \\(no ports\\): backend; start it with: docker-compose -f ${file.replaceAll('.', '\\.')} up -d backend$`, 'm'), 'up names backend and the command that starts it');
    const c = await compose(dir, ['up', '-d', 'backend'], env);
    t.equal(c.code, 0, `docker-compose up -d backend (${c.stderr.trim()})`);
    t.notMatch(c.stderr, /has changed|recreated|not created by Docker Compose/, 'docker-compose adopts the network up made, without a warning');
    const via = await getNewConnection(port, '/upstream');
    t.match(via.body, /^Hello from e2e-up-two-app-[123] via Hello from the-backend/, `a replica reaches backend by name (${via.body.trim()})`);
    t.match((await getNewConnection(port)).body, /^Hello from e2e-up-two-app-[123]: from-dotenv$/m, 'MESSAGE interpolated from .env');
    const [first] = await ids('e2e-up-two-app');
    const replicaEnv = await inspect<string[]>(first ?? '', '.Config.Env');
    t.ok(replicaEnv.includes('PRICE=5$'), '$$ is one $');
    t.ok(replicaEnv.includes('MESSAGE=from-dotenv'), 'interpolated from .env');

    const before = await ids('e2e-up-two-app');
    t.equal(before.length, 3, 'deploy.replicas: 3');
    const again = await cli(['up', '-f', file, '--monitor', '1'], env);
    t.equal(again.code, 0);
    t.match(again.stdout, /^pod e2e-up-two-app is up to date/m, 'the second up says so');
    t.same(await ids('e2e-up-two-app'), before, 'and changes nothing (same containers)');

    // The drain time is the pod's record, passed to every stop: no replica needs replacing for it.
    env['GRACE'] = '3s';
    const grace = await cli(['up', '-f', file, '--monitor', '1'], env);
    t.equal(grace.code, 0, `up with another stop_grace_period exits 0 (${grace.stderr.trim()})`);
    t.match(grace.stdout, /^pod e2e-up-two-app updated \(stop timeout 5 s -> 3 s\): 3 replicas of /m, 'a rollout of the stop timeout');
    t.same(await ids('e2e-up-two-app'), before, 'with the same containers');
    const recorded = JSON.parse((await cli(['inspect', 'e2e-up-two-app'])).stdout) as { spec: { stopTimeout: number } };
    t.equal(recorded.spec.stopTimeout, 3, 'the pod records 3 s');

    const changedEnv = await underLoad(port, () => cli(['up', '-f', file, '--monitor', '1', '-q'], { ...env, MESSAGE: 'from-shell' }));
    t.equal(changedEnv.result.code, 0, `up with MESSAGE from the shell exits 0 (${changedEnv.result.stderr.trim()})`);
    t.match(changedEnv.result.stdout, /^pod e2e-up-two-app updated \(environment\), 3 replicas replaced/m);
    t.comment(describe(changedEnv.report));
    t.ok(changedEnv.report.ok > 100, `the load ran (${changedEnv.report.ok} answers)`);
    t.equal(changedEnv.report.failed, 0, `0 failed requests during the rollout ${failures(changedEnv.report)}`);
    const afterEnv = await ids('e2e-up-two-app');
    t.equal(afterEnv.length, 3);
    t.same(afterEnv.filter((id) => before.includes(id)), [], 'every replica was replaced');
    t.match((await getNewConnection(port)).body, /: from-shell$/m, 'the shell wins over .env');

    const changedImage = await underLoad(port, () => cli(['up', '-f', file, '--monitor', '1', '-q'], { ...env, MESSAGE: 'from-shell', TAG: 't-up-v2' }));
    t.equal(changedImage.result.code, 0, `up with a new image exits 0 (${changedImage.result.stderr.trim()})`);
    t.match(changedImage.result.stdout, new RegExp(`updated \\(image ${V1} -> ${V2}\\), 3 replicas replaced`));
    t.equal(changedImage.report.failed, 0, `0 failed requests during the image rollout ${failures(changedImage.report)}`);
    const afterImage = await ids('e2e-up-two-app');
    t.same(afterImage.filter((id) => afterEnv.includes(id)), [], 'every replica was replaced again');
    for (const id of afterImage) t.equal(await inspect<string>(id, '.Config.Image'), V2, 'on the new image');

    const shellV2 = { ...env, MESSAGE: 'from-shell', TAG: 't-up-v2' };
    for (const n of [5, 2]) {
      const scaled = await underLoad(port, () => cli(['up', '-f', file, '--scale', `app=${n}`, '--monitor', '1', '-q'], shellV2));
      t.equal(scaled.result.code, 0, `up --scale app=${n} exits 0 (${scaled.result.stderr.trim()})`);
      t.match(scaled.result.stdout, new RegExp(`updated \\(replicas \\d -> ${n}\\)`));
      t.equal(scaled.report.failed, 0, `0 failed requests scaling to ${n} ${failures(scaled.report)}`);
      t.equal((await ids('e2e-up-two-app')).length, n, `${n} replicas`);
    }

    const down = await cli(['down', '-f', file]);
    t.equal(down.code, 0, `down exits 0 (${down.stderr.trim()})`);
    t.match(down.stdout, /^network e2e-up-two_default stays: other containers still use it$/m, 'the network backend still uses stays, and down says so');
    t.same(await podContainers('e2e-up-two-app'), [], 'the pod is gone');
    t.ok(await networkExists('e2e-up-two_default'), 'the network is still there');
    t.equal((await compose(dir, ['down'], env)).code, 0, 'docker-compose down removes backend and the network');
    t.notOk(await networkExists('e2e-up-two_default'));
  });

  t.test('two -f files merged; a named volume with Compose labels, removed only with --volumes', async (t) => {
    const port = await freePort();
    const dir = project('e2e-up-merge', {
      'base.yml': `services:\n  app:\n    image: ${V1}\n    ports: ["127.0.0.1:${port}:8080"]\n    environment: {MESSAGE: base}\n    volumes: [data:/data]\nvolumes:\n  data: {}\n`,
      'override.yml': 'services:\n  app:\n    environment: {MESSAGE: override}\n    scale: 2\n',
    });
    const files = ['-f', join(dir, 'base.yml'), '-f', join(dir, 'override.yml')];
    const up = await cli(['up', ...files, '--monitor', '1']);
    t.equal(up.code, 0, `up exits 0 (${up.stderr.trim().split('\n').at(-1)})`);
    t.match(up.stdout, /^volume e2e-up-merge_data created$/m);
    t.match((await getNewConnection(port)).body, /: override$/m, 'the second file wins');
    t.equal((await ids('e2e-up-merge-app')).length, 2, 'scale from the second file');
    t.match(await inspect<Record<string, string>>('e2e-up-merge_data', '.Labels'), { 'com.docker.compose.project': 'e2e-up-merge', 'com.docker.compose.volume': 'data' }, "the volume carries Compose's labels");
    const down = await cli(['down', ...files]);
    t.equal(down.code, 0);
    t.ok(await volumeExists('e2e-up-merge_data'), 'down keeps the named volume');
    t.notOk(await networkExists('e2e-up-merge_default'), 'and removes the network');
    // No pod is left to say which volumes it mounted: down finds them by the project's label.
    const downV = await cli(['down', ...files, '--volumes']);
    t.equal(downV.code, 0);
    t.match(downV.stdout, /^project e2e-up-merge: no pods to remove$/m);
    t.match(downV.stdout, /^volume e2e-up-merge_data removed$/m);
    t.notOk(await volumeExists('e2e-up-merge_data'), 'down --volumes after a plain down removes it');
  });

  t.test('a pod that depends on another pod: up app brings api up first, and app reaches it', async (t) => {
    const [appPort, apiPort] = [await freePort(), await freePort()];
    const dir = project('e2e-up-deps', {
      'docker-compose.yml': [
        'services:',
        '  app:',
        `    image: ${V1}`,
        `    ports: ["127.0.0.1:${appPort}:8080"]`,
        '    environment: {UPSTREAM: "http://api:8080/"}',
        '    depends_on: [api]',
        '  api:',
        `    image: ${V1}`,
        `    ports: ["127.0.0.1:${apiPort}:8080"]`,
        '',
      ].join('\n'),
    });
    const file = join(dir, 'docker-compose.yml');
    const up = await cli(['up', '-f', file, 'app', '--monitor', '1']);
    t.equal(up.code, 0, `up app exits 0 (${up.stderr.trim().split('\n').at(-1)})`);
    const lines = up.stdout.split('\n').filter((l) => l.startsWith('pod '));
    t.match(lines, [/^pod e2e-up-deps-api created/, /^pod e2e-up-deps-app created/], 'api, its dependency, first');
    const via = await getNewConnection(appPort, '/upstream');
    t.match(via.body, /^Hello from e2e-up-deps-app-1 via Hello from e2e-up-deps-api-1/, `app reaches api by its service name over the project's network, as in Compose (${via.body.trim()})`);
    const down = await cli(['down', '-f', file]);
    t.equal(down.code, 0);
    t.match(down.stdout, /removed 2 pods/);
  });

  t.test('refused: one line, exit 2, nothing made', async (t) => {
    const port = await freePort();
    const bad = project('e2e-up-bad', { 'docker-compose.yml': `services:\n  app:\n    image: ${V1}\n    network_mode: host\n    ports: ["127.0.0.1:${port}:8080"]\n` });
    const r = await cli(['up', '-f', join(bad, 'docker-compose.yml')]);
    t.equal(r.code, 2, 'exit 2');
    t.match(r.stderr, /^reuseport-pod: services\.app\.network_mode: a pod cannot honour this key/, r.stderr.trim());
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    const invalid = project('e2e-up-invalid', { 'docker-compose.yml': `services:\n  app:\n    image: ${V1}\n    ports: "${port}:8080"\n` });
    const i = await cli(['up', '-f', join(invalid, 'docker-compose.yml')]);
    t.equal(i.code, 2, 'a file Compose refuses: exit 2');
    t.match(i.stderr, /^reuseport-pod: docker-compose config: .*invalid/, i.stderr.trim());
    t.equal(i.stderr.trim().split('\n').length, 1, 'one line');
    const noImage = project('e2e-up-noimage', { 'docker-compose.yml': `services:\n  app:\n    image: reuseport-pod/example:t-up-missing\n    ports: ["127.0.0.1:${port}:8080"]\n` });
    const n = await cli(['up', '-f', join(noImage, 'docker-compose.yml')]);
    t.not(n.code, 0, 'an image that is not there fails up');
    t.match(n.stderr, /t-up-missing is not on this engine/, n.stderr.trim().split('\n').at(-1));
    for (const p of ['e2e-up-bad', 'e2e-up-invalid', 'e2e-up-noimage']) {
      t.same(await podContainers(`${p}-app`), [], `${p}: no container`);
      t.notOk(await networkExists(`${p}_default`), `${p}: no network`);
    }
  });
});
