// `export --format compose` writes a file that `up` takes back unchanged, without an engine: the
// pod as `up` made it from a Compose file, exported, read by the real `docker-compose config`
// (interpolation, $$ escapes), checked by the Compose schema and mapped again, is the same spec.
// A pod `up` cannot run (another mode) is refused by name; the services the export made are not
// the user's and cannot be selected one by one.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import YAML from 'yaml';
import { ExitCode, PodError } from '../src/errors.ts';
import { unescapeDollars } from '../src/compose/installed.ts';
import { validateComposeModel } from '../src/compose/schema.ts';
import { mapProject, type ComposeProject } from '../src/compose/services.ts';
import { composeYaml } from '../src/pod/export/compose.ts';
import type { ExportSource } from '../src/pod/export/shared.ts';
import { storedSpec } from '../src/pod/model/names.ts';
import type { PodSpec } from '../src/pod/model/spec.ts';

const dir = mkdtempSync(join(tmpdir(), 'compose-roundtrip-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'conf'));

type Obj = Record<string, unknown>;
const PROJECT = 't-rt';

function compose(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('docker-compose', args, { cwd, env: { ...process.env, HOME: process.env['HOME'] ?? '/root' } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code) || 1 : 0, stdout, stderr });
    });
  });
}

/** What `up` does with a file, short of the engine: Compose's reading, the schema, the mapping. */
async function upReads(file: string, project: string, selected: string[] = []): Promise<ComposeProject> {
  const r = await compose(['-p', project, '-f', file, 'config'], dir);
  if (r.code !== 0) throw new Error(`docker-compose config: ${r.stderr}`);
  const model = unescapeDollars(YAML.parse(r.stdout)) as Obj;
  validateComposeModel(model);
  return mapProject(model, { project, selected, scale: {}, composeVersion: '1.29.2' });
}

const write = (name: string, text: string): string => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};

const source = (spec: PodSpec, replicas = spec.replicas): ExportSource => ({ name: spec.name, spec: storedSpec(spec), replicas, sandboxImage: 'reuseport-pod/pause:0.1.0' });

async function usageRefusal(t: Tap.Test, fn: () => Promise<unknown>, pattern: RegExp, what: string): Promise<void> {
  try {
    await fn();
    t.fail(`${what}: accepted`);
  } catch (err) {
    t.ok(err instanceof PodError && err.exitCode === ExitCode.usage, `${what}: a usage error`);
    t.match((err as Error).message, pattern, `${what}: ${(err as Error).message}`);
  }
}

t.test('a pod up made, exported, comes back from up as the same spec', async (t) => {
  const original = await upReads(
    write(
      'original.yml',
      `services:
  app:
    image: reuseport-pod/example:0.1.0
    ports: ["127.0.0.1:18521:8080"]
    deploy: {replicas: 3, resources: {limits: {memory: 64m, cpus: "0.5"}}}
    environment: {MESSAGE: "costs $$5", QUOTE: "it's \\"quoted\\"", PORT: "8080"}
    command: ["node", "dist/examples/http-server.js", "--price", "$$HOME"]
    entrypoint: ["/usr/bin/env"]
    volumes:
      - data:/data:rw
      - ${join(dir, 'conf')}:/etc/app:ro
      - {type: tmpfs, target: /scratch, tmpfs: {size: 1048576}}
    tmpfs: ["/run:size=8m"]
    networks: [default, front]
    extra_hosts: ["db.internal:10.0.0.5"]
    dns: [1.1.1.1]
    user: "1000:1000"
    working_dir: /srv
    read_only: true
    cap_add: [NET_BIND_SERVICE]
    cap_drop: [ALL]
    labels: {team: web}
    healthcheck: {test: ["CMD-SHELL", "test -f /tmp/ready && echo $$HOME"], interval: 5s, timeout: 1500ms, retries: 3, start_period: 10s}
    stop_grace_period: 1m30s
    stop_signal: SIGQUIT
    pids_limit: 50
  db:
    image: redis
networks:
  front: {}
volumes:
  data: {}
`,
    ),
    PROJECT,
  );
  const [pod] = original.pods;
  if (!pod) return t.fail('the original file makes no pod');
  t.equal(pod.spec.name, `${PROJECT}-app`);

  const exported = composeYaml(source(pod.spec));
  t.match(exported, new RegExp(`# \`reuseport-pod up -p PROJECT -f <this file>\` takes it back as the pod PROJECT-app \\(-p ${PROJECT}: this pod\\)`), 'the header says how to take it back');
  const file = write('exported.yml', exported);
  const ran = await compose(['-p', PROJECT, '-f', file, 'config', '--services'], dir);
  t.equal(ran.code, 0, `plain Compose still reads it (${ran.stderr.trim()})`);
  t.same(ran.stdout.trim().split('\n').sort(), ['sandbox', `${PROJECT}-app-1`, `${PROJECT}-app-2`, `${PROJECT}-app-3`], 'as the sandbox and one service per replica');

  const back = await upReads(file, PROJECT);
  t.same(back.pods.map((p) => p.service), ['app'], 'up reads one pod, the service app, and skips the services made from it');
  t.strictSame(back.pods[0]?.spec, pod.spec, 'the same spec: image, ports, replicas, environment ($ kept), stop timeout and every option');
  t.same(back.others, [], 'no service is left over as "not a pod"');
  t.same(back.networks.map((n) => n.name).sort(), original.networks.map((n) => n.name).sort(), 'the same networks');
  t.same(back.volumes.map((v) => v.name), original.volumes.map((v) => v.name), 'the same volumes');

  const selected = await upReads(file, PROJECT, ['app']);
  t.equal(selected.pods[0]?.spec.name, `${PROJECT}-app`, 'the pod can be selected by its service');
  await usageRefusal(t, () => upReads(file, PROJECT, [`${PROJECT}-app-2`]), /^service "t-rt-app-2" was made by `reuseport-pod export` for pod t-rt-app; name the pod's service instead \(app\)$/, 'a generated service');
});

t.test('a pod create made comes back as PROJECT-<its name>, its options the same', async (t) => {
  const spec: PodSpec = {
    name: 'web',
    image: 'reuseport-pod/example:0.1.0',
    ports: [{ hostPort: 18522, containerPort: 8080 }],
    replicas: 2,
    env: { GREETING: 'yes' },
    stopTimeout: 3,
    mode: 'reuseport',
    options: { memoryBytes: 96 * 1024 ** 2, labels: { team: 'web' } },
  };
  const back = await upReads(write('create.yml', composeYaml(source(spec))), 'other');
  const got = back.pods[0]?.spec;
  t.equal(got?.name, 'other-web');
  const { options: gotOptions, name: _n, ...gotRest } = got ?? ({} as PodSpec);
  const { options: wantedOptions, name: _m, ...wantedRest } = spec;
  t.strictSame(gotRest, wantedRest, 'the same image, ports, replicas, environment, stop timeout and mode');
  t.strictSame(
    gotOptions,
    { ...wantedOptions, networks: ['other_default'], networkAliases: ['web'], labels: { team: 'web', 'io.reuseport-pod.project': 'other' } },
    "the same options, and what up gives every pod: the project's default network, the service's name on it, the project label",
  );
});

t.test('a pod of another mode is refused by name, one line', async (t) => {
  const spec: PodSpec = { name: 'edge', image: 'img:1', ports: [{ hostPort: 18523, containerPort: 8080 }], replicas: 2, env: {}, stopTimeout: 10, mode: 'host' };
  const text = composeYaml(source(spec));
  t.match(text, /# `reuseport-pod up` cannot take this file back: the pod runs in --mode host/);
  await usageRefusal(t, () => upReads(write('host.yml', text), PROJECT), /^services\.edge-1: made by `reuseport-pod export` from pod edge, which up cannot take back: the pod runs in --mode host, and up makes pods of the default mode only; run the file with Compose$/, '--mode host');
});

t.test('a service the user added next to the exported pod is theirs', async (t) => {
  const spec: PodSpec = { name: 'shop-web', image: 'img:1', ports: [{ hostPort: 18524, containerPort: 8080 }], replicas: 2, env: {}, stopTimeout: 10, mode: 'reuseport', options: { labels: { 'io.reuseport-pod.project': 'shop' } } };
  const doc = YAML.parse(composeYaml(source(spec))) as { services: Obj };
  doc.services['cache'] = { image: 'redis' };
  const back = await upReads(write('added.yml', YAML.stringify(doc)), 'shop');
  t.same(back.pods.map((p) => p.spec.name), ['shop-web']);
  t.same(back.others, ['cache'], 'cache is not a pod, and up says to start it with Compose');
  doc.services['web'] = { image: 'img:2', ports: ['18525:8080'] };
  await usageRefusal(t, () => upReads(write('clash.yml', YAML.stringify(doc)), 'shop'), /comes back as service web, and the file has a service of that name too; rename one$/, 'a name clash');
});
