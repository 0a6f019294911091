// Reading a Compose project as pods, without an engine: the model as `docker-compose config` prints
// it mapped key by key to the pod's spec, every key a pod cannot honour refused by name (exit 2),
// the project name as Compose derives it, the schema's verdict in one line, and up's plan per pod.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ExitCode, PodError } from '../src/errors.ts';
import { unescapeDollars, oneLine } from '../src/compose/installed.ts';
import { normalizeProjectName, projectName } from '../src/compose/project.ts';
import { composePath, validateComposeModel } from '../src/compose/schema.ts';
import { loadProject } from '../src/compose/load.ts';
import { mapProject, type ComposeProject } from '../src/compose/services.ts';
import { shellWords } from '../src/compose/words.ts';
import { planPod, type SeenPod } from '../src/pod/model/converge.ts';
import { specHash, storedSpec } from '../src/pod/model/names.ts';
import { PROJECT_LABEL } from '../src/pod/model/project.ts';
import type { PodSpec } from '../src/pod/model/spec.ts';

const dir = mkdtempSync(join(tmpdir(), 'compose-map-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'conf'));

type Obj = Record<string, unknown>;
const map = (services: Obj, top: Obj = {}, scale: Record<string, string> = {}, selected: string[] = []): ComposeProject =>
  mapProject({ services, ...top }, { project: 't-up-p', selected, scale, composeVersion: '1.29.2' });
const app = (extra: Obj = {}): Obj => ({ image: 'img:1', ports: ['127.0.0.1:18431:8080/tcp'], ...extra });

function refuses(t: Tap.Test, fn: () => unknown, pattern: RegExp, what: string): void {
  try {
    fn();
    t.fail(`${what}: accepted`);
  } catch (err) {
    t.ok(err instanceof PodError && err.exitCode === ExitCode.usage, `${what}: a usage error`);
    t.match((err as Error).message, pattern, `${what}: ${(err as Error).message}`);
  }
}

t.test('every key a pod has an option for maps to it', async (t) => {
  const p = map(
    {
      app: app({
        command: 'node "dist/my server.js" --port 8080',
        entrypoint: ['tini', '--'],
        environment: { A: '1', UNSET: null, PORT: '8080', PRICE: '5$' },
        volumes: ['data:/data:rw', `${join(dir, 'conf')}:/etc/app:ro`, { type: 'tmpfs', target: '/scratch', tmpfs: { size: 1048576 } }],
        tmpfs: '/run',
        networks: ['front'],
        extra_hosts: ['db.internal:10.0.0.5'],
        dns: '1.1.1.1',
        user: '1000:1000',
        working_dir: '/srv',
        read_only: true,
        cap_add: ['NET_BIND_SERVICE'],
        cap_drop: ['ALL'],
        labels: { team: 'web' },
        healthcheck: { test: ['CMD', 'true'], interval: '5s', retries: 3 },
        stop_grace_period: '1m30s',
        stop_signal: 'SIGQUIT',
        deploy: { replicas: 4, resources: { limits: { memory: '64m', cpus: 0.5 } } },
        pids_limit: 50,
        restart: 'unless-stopped',
      }),
      db: { image: 'postgres' },
    },
    { networks: { front: { name: 'custom-front' } }, volumes: { data: {} } },
  );
  t.same(p.others, ['db'], 'a service without ports is not a pod');
  const [pod] = p.pods;
  const spec = pod?.spec as PodSpec;
  t.equal(spec.name, 't-up-p-app', 'the pod is <project>-<service>');
  t.equal(spec.replicas, 4, 'deploy.replicas');
  t.same(spec.ports, [{ hostIp: '127.0.0.1', hostPort: 18431, containerPort: 8080 }]);
  t.same(spec.env, { A: '1', PORT: '8080', PRICE: '5$' }, 'a variable without value stays unset; PORT equal to the container port is taken');
  t.equal(spec.stopTimeout, 90, 'stop_grace_period 1m30s');
  t.same(spec.options, {
    networks: ['custom-front'],
    networkAliases: ['app'],
    volumes: ['t-up-p_data:/data:rw', `${join(dir, 'conf')}:/etc/app:ro`],
    mounts: [{ type: 'tmpfs', target: '/scratch', tmpfsSizeBytes: 1048576 }],
    tmpfs: { '/run': '' },
    user: '1000:1000',
    workdir: '/srv',
    entrypoint: 'tini',
    command: ['--', 'node', 'dist/my server.js', '--port', '8080'],
    memoryBytes: 64 * 1024 * 1024,
    nanoCpus: 5e8,
    pidsLimit: 50,
    readOnly: true,
    capAdd: ['NET_BIND_SERVICE'],
    capDrop: ['ALL'],
    labels: { team: 'web', [PROJECT_LABEL]: 't-up-p' },
    addHosts: ['db.internal:10.0.0.5'],
    dns: ['1.1.1.1'],
    health: { test: ['CMD', 'true'], intervalMs: 5000, retries: 3 },
    stopSignal: 'SIGQUIT',
  });
  t.same(p.networks.map((n) => [n.name, n.external, n.labels['com.docker.compose.network']]), [['custom-front', false, 'front']], 'the network, with Compose labels');
  t.same(p.volumes.map((v) => [v.name, v.labels['com.docker.compose.project'], v.labels['com.docker.compose.volume']]), [['t-up-p_data', 't-up-p', 'data']]);
});

t.test('profiles, as Compose has them: active ones, or the service named on the command line', async (t) => {
  const services = { app: app(), debug: app({ ports: ['18434:8080'], profiles: ['debug'] }), tools: { image: 'busybox', profiles: ['debug', 'ops'] } };
  const run = (profiles: string[], selected: string[] = []): ComposeProject => mapProject({ services }, { project: 't-up-p', selected, scale: {}, composeVersion: '1.29.2', profiles });
  t.same([run([]).pods.map((p) => p.service), run([]).others], [['app'], []], 'no profile active: only the services without profiles');
  t.same([run(['debug']).pods.map((p) => p.service), run(['debug']).others], [['app', 'debug'], ['tools']], '--profile debug: its services too');
  t.same(run(['ops']).others, ['tools'], 'one of its profiles is enough');
  t.same(run([], ['debug']).pods.map((p) => p.service), ['debug'], 'named on the command line: enabled whatever its profiles');
  refuses(t, () => mapProject({ services }, { project: 't-up-p', selected: [], scale: { debug: '2' }, composeVersion: '1.29.2', profiles: [] }), /^--scale debug: debug is not a pod here \(it is not selected\)/, '--scale of a service whose profile is off');
});

t.test('profiles through the installed Compose: --profile and COMPOSE_PROFILES', async (t) => {
  const folder = join(dir, 'profiles');
  mkdirSync(folder);
  writeFileSync(join(folder, 'compose.yaml'), 'services:\n  app:\n    image: img:1\n    ports: ["18435:8080"]\n  debug:\n    image: img:1\n    ports: ["18436:8080"]\n    profiles: [debug]\n');
  const file = join(folder, 'compose.yaml');
  const services = async (profiles: string[], env: NodeJS.ProcessEnv = {}): Promise<string[]> =>
    (await loadProject({ files: [file], project: 't-up-prof', services: [], scale: {}, profiles }, () => undefined, { ...process.env, COMPOSE_PROFILES: undefined, ...env })).pods.map((p) => p.service);
  t.same(await services([]), ['app'], 'none active');
  t.same(await services(['debug']), ['app', 'debug'], '--profile debug');
  t.same(await services([], { COMPOSE_PROFILES: 'other,debug' }), ['app', 'debug'], 'COMPOSE_PROFILES=other,debug');
});

t.test('depends_on: pods it names come up first, and with it, as Compose starts dependencies', async (t) => {
  const services = {
    app: app({ depends_on: ['api', 'db'] }),
    api: app({ ports: ['18437:8080'], depends_on: { cache: { condition: 'service_started' } } }),
    db: { image: 'postgres' },
    cache: { image: 'redis' },
  };
  const all = map(services);
  t.same(all.pods.map((p) => [p.service, p.after, p.dependsOn]), [['api', [], ['cache']], ['app', ['api'], ['db']]], 'api before app; db and cache are Compose\'s to start');
  t.same(map(services, {}, {}, ['app']).pods.map((p) => p.service), ['api', 'app'], 'up app brings api, a pod it depends on');
  refuses(t, () => map({ a: app({ depends_on: ['b'] }), b: app({ ports: ['18438:8080'], depends_on: ['a'] }) }), /^services\.a\.depends_on: a cycle \(a -> b -> a\)/, 'a cycle');
  refuses(t, () => map({ a: app({ depends_on: ['nope'] }) }), /^services\.a\.depends_on: no service "nope"/, 'a missing dependency');
});

t.test('the default network, the replica count and selection', async (t) => {
  const p = map({ app: app({ scale: 2 }), web: app({ ports: ['18432:8080'] }) }, {}, { web: '5' }, ['app', 'web']);
  t.same(p.pods.map((x) => [x.spec.name, x.spec.replicas, x.spec.options?.networks]), [['t-up-p-app', 2, ['t-up-p_default']], ['t-up-p-web', 5, ['t-up-p_default']]], 'scale, then --scale over it');
  t.equal(map({ app: app({ deploy: { replicas: 3 }, scale: 2 }) }).pods[0]?.spec.replicas, 3, 'deploy.replicas over scale');
  t.equal(map({ app: app() }).pods[0]?.spec.replicas, 1, 'else 1');
  t.same(map({ app: app(), web: app() }, {}, {}, ['web']).pods.map((x) => x.service), ['web'], 'only the selected services');
  t.same(map({ app: app({ networks: { ext: null } }) }, { networks: { ext: { external: true, name: 'shared' } } }).networks.map((n) => [n.name, n.external]), [['shared', true]], 'an external network: named, not made');
  t.same(map({ app: app({ ports: [{ target: 8080, published: 18433, host_ip: '127.0.0.1', protocol: 'tcp', mode: 'ingress' }] }) }).pods[0]?.spec.ports, [{ hostIp: '127.0.0.1', hostPort: 18433, containerPort: 8080 }], 'long port syntax');
});

t.test('what a pod cannot honour is refused, naming the service and the key', async (t) => {
  refuses(t, () => map({ app: app({ network_mode: 'host' }) }), /^services\.app\.network_mode: /, 'network_mode');
  refuses(t, () => map({ app: app({ pid: 'host' }) }), /^services\.app\.pid: /, 'pid: host');
  refuses(t, () => map({ app: app({ container_name: 'x' }) }), /^services\.app\.container_name: /, 'container_name');
  refuses(t, () => map({ app: app({ stop_signal: 'SIGKILL' }) }), /^services\.app\.stop_signal SIGKILL cannot be caught/, 'stop_signal: SIGKILL');
  refuses(t, () => map({ app: app({ stop_signal: 'SIGNOPE' }) }), /^services\.app\.stop_signal "SIGNOPE" is not a signal/, 'stop_signal: not a signal');
  refuses(t, () => map({ app: { build: '.', ports: ['18431:8080'] } }), /^services\.app\.build: .*has none/, 'build without image');
  refuses(t, () => map({ app: app({ ports: ['8080'] }) }), /^services\.app\.ports\[0\]: .*no host port/, 'a port without host port');
  refuses(t, () => map({ app: app({ ports: ['18431:8080/udp'] }) }), /^services\.app\.ports\[0\]: .*TCP/, 'udp');
  refuses(t, () => map({ app: app({ ports: ['18431-18432:8080-8081'] }) }), /^services\.app\.ports\[0\]: .*range/, 'a range');
  refuses(t, () => map({ app: app({ ports: ['18431:80800'] }) }), /^services\.app\.ports\[0\]: "18431:80800": container port 80800 is out of range/, 'a bad port, reworded for the key');
  refuses(t, () => map({ app: app({ mem_limit: '3' }) }), /^services\.app\.mem_limit: "3" is below/, 'a memory limit below the minimum');
  refuses(t, () => map({ app: app({ mem_limit: '64m', deploy: { resources: { limits: { memory: '128m' } } } }) }), /differ/, 'two memory limits');
  refuses(t, () => map({ app: app({ deploy: { resources: { reservations: { memory: '64m' } } } }) }), /deploy\.resources\.reservations/, 'reservations');
  refuses(t, () => map({ app: app({ restart: 'no' }) }), /^services\.app\.restart: /, 'restart: no');
  refuses(t, () => map({ app: app({ environment: { INSTANCE: 'x' } }) }), /^services\.app\.environment\.INSTANCE: /, 'INSTANCE');
  refuses(t, () => map({ app: app({ environment: { PORT: '9000' } }) }), /^services\.app\.environment\.PORT: /, 'another PORT');
  refuses(t, () => map({ app: app({ networks: { default: { aliases: ['x'] } } }) }), /^services\.app\.networks\.default\.aliases: /, 'network aliases');
  refuses(t, () => map({ app: app({ entrypoint: ['a', 'b'] }) }), /^services\.app\.entrypoint: /, 'a long entrypoint without command');
  refuses(t, () => map({ app: app({ volumes: ['nodecl:/data'] }) }), /^services\.app\.volumes\[0\]: volume "nodecl" is not declared/, 'an undeclared volume');
  refuses(t, () => map({ app: app() }, { networks: { default: { driver: 'overlay' } } }), /^networks\.default\.driver: /, 'a network driver up cannot make');
  refuses(t, () => map({ app: app() }, {}, { db: '2' }), /--scale db: no service/, '--scale of an unknown service');
  refuses(t, () => map({ app: app(), db: { image: 'x' } }, {}, { db: '2' }), /--scale db: db is not a pod here \(it publishes no port\)/, '--scale of a service without ports');
  refuses(t, () => map({ App: app() }), /^services\.App: pod name "t-up-p-App" is not valid/, 'a service name that makes no pod name');
  refuses(t, () => map({ app: app({ deploy: { replicas: 0 } }) }), /services\.app\.deploy\.replicas 0 is out of range/, 'zero replicas');
});

t.test('the project name, as Compose derives it', async (t) => {
  t.equal(normalizeProjectName('My.App_1-x'), 'myapp_1-x', 'lowercase, and only a-z 0-9 - _ kept');
  const proj = join(dir, 'My.Proj');
  mkdirSync(proj);
  writeFileSync(join(proj, 'docker-compose.yml'), 'services: {}\n');
  t.equal(projectName({ files: [], env: {}, cwd: proj }), 'myproj', 'the folder of the file found, normalized');
  t.equal(projectName({ files: [join(proj, 'docker-compose.yml')], env: {}, cwd: dir }), 'myproj', "the first -f file's folder");
  t.equal(projectName({ files: [], env: { COMPOSE_PROJECT_NAME: 'Env' }, cwd: proj }), 'env', 'COMPOSE_PROJECT_NAME');
  writeFileSync(join(proj, '.env'), '# x\nCOMPOSE_PROJECT_NAME="FromDotEnv"\n');
  t.equal(projectName({ files: [], env: {}, cwd: proj }), 'fromdotenv', "the project's .env");
  t.equal(projectName({ files: [], env: { COMPOSE_PROJECT_NAME: 'shell' }, cwd: proj }), 'shell', 'the shell over .env');
  t.equal(projectName({ project: 'Flag', files: [], env: { COMPOSE_PROJECT_NAME: 'shell' }, cwd: proj }), 'flag', '-p over all');
  t.throws(() => projectName({ project: '...', files: [], env: {}, cwd: proj }), /no letter or digit/);
});

t.test('reading what Compose prints', async (t) => {
  t.same(unescapeDollars({ a: ['x$$y', { b: '$$$$' }], n: 1 }), { a: ['x$y', { b: '$$' }], n: 1 }, "v1's doubled $ are single again");
  t.same(shellWords(`a 'b c' "d \\"e\\"" f\\ g`, 'w'), ['a', 'b c', 'd "e"', 'f g']);
  t.throws(() => shellWords('a "b', 'services.app.command'), /services\.app\.command: .*unclosed/);
  t.equal(oneLine("The Compose file './x.yml' is invalid because:\nservices.app.ports contains an invalid type\n"), "The Compose file './x.yml' is invalid because: services.app.ports contains an invalid type");
  t.equal(composePath('/services/app/ports/0'), 'services.app.ports[0]');
  validateComposeModel({ version: '3.9', services: { app: app() } });
  t.pass('a model as v1 prints it is valid');
  refuses(t, () => validateComposeModel({ services: { app: { image: 'x', ports: 'nope' } } }), /^the Compose model is not valid: services\.app\.ports: must be array$/, 'the schema, in one line');
  refuses(t, () => validateComposeModel({ services: { app: { image: 'x', bogus: 1 } } }), /services\.app: must NOT have additional properties \("bogus"\)/, 'an unknown key');
});

t.test("up's plan for a pod", async (t) => {
  const wanted = map({ app: app({ environment: { A: '1' }, user: '1000' }) }).pods[0]?.spec as PodSpec;
  const stored = storedSpec(wanted);
  const seenAs = (spec = stored, n = wanted.replicas, extra: Partial<SeenPod> = {}): SeenPod => ({ spec, desired: n, replicaHashes: Array(n).fill(specHash(spec)), serving: true, ...extra });
  t.equal(planPod('t-up-p', wanted, undefined).kind, 'create', 'none: create');
  t.same(planPod('t-up-p', wanted, seenAs()), { kind: 'up-to-date', name: 't-up-p-app' }, 'the same spec and count: nothing');
  const older = { ...stored, image: 'img:0', env: {}, options: { ...stored.options, user: undefined, workdir: '/old' } };
  const step = planPod('t-up-p', wanted, seenAs(JSON.parse(JSON.stringify(older))));
  t.match(step, { kind: 'update', causes: ['image img:0 -> img:1', 'environment', '--workdir', '--user'] }, 'image, env and options changed: a rollout');
  t.same(step.kind === 'update' && step.rollout, { image: 'img:1', env: { A: '1' }, options: { ...stored.options, workdir: undefined }, stopTimeout: 10 }, 'the rollout sets every option, unsetting what the file dropped');
  t.match(planPod('t-up-p', { ...wanted, replicas: 3 }, seenAs()), { kind: 'update', scale: { from: 1, to: 3 }, causes: ['replicas 1 -> 3'] }, 'the count changed: a scale, no rollout');
  t.notOk((planPod('t-up-p', { ...wanted, replicas: 3 }, seenAs()) as { rollout?: unknown }).rollout);
  t.match(planPod('t-up-p', wanted, seenAs(stored, 1, { replicaHashes: ['other'] })), { kind: 'update', causes: [/another spec/] }, 'a replica on another spec: replaced');
  const refusal = (seen: SeenPod, pattern: RegExp, what: string): void => {
    const s = planPod('t-up-p', wanted, seen);
    t.ok(s.kind === 'refused' && pattern.test(s.reason), `${what}: ${s.kind === 'refused' ? s.reason : s.kind}`);
  };
  refusal(seenAs({ ...stored, ports: [{ hostPort: 1, containerPort: 8080 }] }), /ports changed/, 'ports');
  refusal(seenAs({ ...stored, options: { ...stored.options, networks: ['x'] } }), /--network changed/, 'networks');
  const drain = planPod('t-up-p', wanted, seenAs({ ...stored, stopTimeout: 3 }));
  t.match(drain, { kind: 'update', causes: ['stop timeout 3 s -> 10 s'], rollout: { stopTimeout: 10 } }, 'stop_grace_period changed: a rollout that records it (no replica differs)');
  refusal(seenAs({ ...stored, options: {} }), /not project t-up-p's \(it was made by create\)/, 'a pod of the same name not made by up');
  refusal(seenAs(stored, 1, { serving: false }), /repair/, 'a pod that does not serve');
});
