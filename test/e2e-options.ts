// A real app's options, end to end with the built CLI and the real engine (Docker here; Podman
// through test/podman-e2e.ts):
//   - the replicas reach a backend container BY NAME over --network, and each answer proves it;
//   - a bind-mounted file is read by the replicas; an env file's values reach them, --env wins,
//     a bare KEY takes the CLI's value;
//   - --memory, --cpus and --pids-limit are the limits of the replica's cgroup, read from the
//     kernel's files (cgroup v1 or v2), not only from inspect; --user is the uid of the replica's
//     main process; a command after -- is what runs; --read-only, --tmpfs, --cap-drop, --label hold;
//   - scale makes new replicas exactly like the old ones, rollout changes only what it is given,
//     inspect shows the options, rm removes the replicas' anonymous volumes;
//   - every bad input: its exit code, one line, and nothing left behind.
import t from 'tap';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, ownPods, podContainers, requireEngine } from './helpers/cli.ts';
import { docker, engine, ensureImages, exampleImage, TEST_LABEL } from './helpers/docker.ts';
import { freePort, getNewConnection } from './helpers/http-client.ts';

const POD = 'e2e-opt';
const CMD_POD = 'e2e-opt-cmd';
const BAD = 'e2e-opt-bad';
const NET = 'e2e-opt-backend';
const DB = 'e2e-opt-db';
const MiB = 1024 * 1024;

/** The cgroup limits of a container's main process, as the kernel holds them (v1 or v2). */
async function cgroupLimits(container: string): Promise<{ memory: number; cpuQuota: number; cpuPeriod: number; pids: string }> {
  const script = [
    'if [ -f /sys/fs/cgroup/cgroup.controllers ]; then',
    '  echo v2 $(cat /sys/fs/cgroup/memory.max) $(cat /sys/fs/cgroup/cpu.max) $(cat /sys/fs/cgroup/pids.max)',
    'else',
    '  echo v1 $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes) $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us) $(cat /sys/fs/cgroup/pids/pids.max)',
    'fi',
  ].join('\n');
  const [, memory = '', quota = '', period = '', pids = ''] = (await docker('exec', container, 'sh', '-c', script)).split(/\s+/);
  return { memory: Number(memory), cpuQuota: Number(quota), cpuPeriod: Number(period), pids };
}

/** The uid the container's main process runs as, from its /proc status (not exec's user). */
async function mainUid(container: string): Promise<number> {
  const status = await docker('exec', container, 'cat', '/proc/1/status');
  return Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
}

/** The environment of the container's main process (the image has no printenv). */
async function mainEnv(container: string): Promise<Record<string, string>> {
  const raw = await docker('exec', container, 'cat', '/proc/1/environ');
  return Object.fromEntries(raw.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

async function answers(port: number, path: string, n: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const key = await getNewConnection(port, path).then(
      (r) => `${r.status} ${r.body.trim()}`,
      (err: Error) => `error: ${err.message}`,
    );
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

t.test('replica options', async (t) => {
  if (!(await requireEngine(t))) return;
  await ensureImages('pause', 'node-base', 'example');
  await ownPods(t, [POD, CMD_POD, BAD]);
  const podman = (await engine()) === 'podman';

  const dir = mkdtempSync(join(tmpdir(), 'e2e-opt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'message.txt'), 'from the mounted file\nsecond line\n');
  writeFileSync(join(dir, 'app.env'), '# the app\'s secrets\n\nMESSAGE_FILE=/etc/app/message.txt\nSECRET=s3cr3t=with=equals\nMODE=file\n  FROM_CLI\nUNSET_IN_CLI\n');

  await docker('network', 'rm', NET).catch(() => undefined);
  await docker('rm', '-f', DB).catch(() => undefined);
  await docker('network', 'create', '--label', TEST_LABEL, NET);
  t.teardown(() => docker('network', 'rm', NET).catch(() => undefined));
  await docker('run', '-d', '--name', DB, '--label', TEST_LABEL, '--network', NET, '-e', 'INSTANCE=db', exampleImage);
  t.teardown(() => docker('rm', '-f', DB).catch(() => undefined));

  const port = await freePort();
  const created = await cli(
    [
      'create', POD, '--port', `127.0.0.1:${port}:8080`, '--replicas', '3', '--monitor', '1',
      '--network', NET, '--network-alias', 'e2e-opt-web',
      '--env-file', join(dir, 'app.env'), '-e', 'MODE=cli', '-e', `UPSTREAM=http://${DB}:8080/`,
      '-v', `${join(dir, 'message.txt')}:/etc/app/message.txt:ro`, '-v', '/var/cache/app',
      '--memory', '96m', '--cpus', '0.5', '--pids-limit', '64',
      '--user', '1234', '--read-only', '--tmpfs', '/tmp:size=8m', '--cap-drop', 'ALL', '--label', 'team=web',
      '--stop-signal', 'int',
      '--json',
    ],
    { FROM_CLI: 'from the shell' },
  );
  t.equal(created.code, 0, `create exits 0: ${created.stderr}`);
  const replicas = ['1', '2', '3'].map((n) => `${POD}-${n}`);

  t.test('the replicas reach the backend by name over --network', async (t) => {
    const seen = await answers(port, '/upstream', 60);
    for (const r of replicas) t.ok(seen.get(`200 Hello from ${r} via Hello from db`), `${r} answered through the backend (${JSON.stringify([...seen])})`);
    t.same([...seen.keys()].filter((k) => !k.endsWith('via Hello from db')), [], 'every answer came through the backend');
  });

  t.test('--network-alias: the backend finds the pod by that name', async (t) => {
    const resolved = await docker('exec', DB, 'node', '-e', "require('dns').lookup('e2e-opt-web', (e, a) => console.log(e ? e.code : a))");
    const sandboxIp = await docker('inspect', `${POD}-sandbox`, '--format', `{{(index .NetworkSettings.Networks "${NET}").IPAddress}}`);
    t.ok(sandboxIp.length > 0, `the sandbox has an address on ${NET} (${sandboxIp})`);
    t.equal(resolved, sandboxIp, 'e2e-opt-web resolves to the sandbox, whose namespace the replicas listen in');
  });

  t.test('the mounted file and the env file reach the replicas; --env wins', async (t) => {
    const seen = await answers(port, '/', 30);
    t.same([...seen.keys()].filter((k) => !/^200 Hello from e2e-opt-\d: from the mounted file$/.test(k)), [], `every answer carries the mounted file's first line (${JSON.stringify([...seen])})`);
    const env = await mainEnv(`${POD}-2`);
    t.equal(env['SECRET'], 's3cr3t=with=equals', "the env file's value, = and all");
    t.equal(env['MODE'], 'cli', '--env wins over --env-file');
    t.equal(env['FROM_CLI'], 'from the shell', "a bare KEY takes the CLI's value");
    t.notOk('UNSET_IN_CLI' in env, 'a bare KEY the CLI lacks is left out');
  });

  t.test('limits are the cgroup limits the kernel holds; --user is the process uid', async (t) => {
    for (const r of replicas) {
      const limits = await cgroupLimits(r);
      t.equal(limits.memory, 96 * MiB, `${r}: memory limit 96m`);
      t.equal(limits.cpuQuota / limits.cpuPeriod, 0.5, `${r}: CPU quota 0.5 of a period`);
      t.equal(limits.pids, '64', `${r}: pids limit 64`);
      t.equal(await mainUid(r), 1234, `${r}: runs as uid 1234`);
    }
    const readOnly = await docker('exec', `${POD}-1`, 'sh', '-c', 'touch /probe 2>&1; touch /tmp/probe && echo tmp-ok').catch((e: Error) => e.message);
    t.match(readOnly, /Read-only file system/, 'the root filesystem is read-only');
    t.match(readOnly, /tmp-ok/, 'the tmpfs is writable');
    const caps = await docker('exec', `${POD}-1`, 'sh', '-c', 'grep CapEff /proc/1/status');
    t.match(caps, /CapEff:\s+0+$/, 'every capability dropped');
    t.equal(await docker('inspect', `${POD}-1`, '--format', '{{index .Config.Labels "team"}}'), 'web', 'the label is on the replica');
    // Docker reports the name it was given, Podman's compat API the number: both are SIGINT.
    t.match(await docker('inspect', `${POD}-1`, '--format', '{{.Config.StopSignal}}'), /^(SIGINT|2)$/, '--stop-signal int is the replica\'s StopSignal, SIGINT (2)');
  });

  t.test('scale makes new replicas like the old ones; rollout changes only what it is given', async (t) => {
    const scaled = await cli(['scale', POD, '--replicas', '4', '--monitor', '0']);
    t.equal(scaled.code, 0, `scale exits 0: ${scaled.stderr}`);
    const fourth = await cgroupLimits(`${POD}-4`);
    t.equal(fourth.memory, 96 * MiB, 'the new replica has the memory limit');
    t.equal(await mainUid(`${POD}-4`), 1234, 'and the user');
    t.equal((await mainEnv(`${POD}-4`))['SECRET'], 's3cr3t=with=equals', "and the env file's values");

    const rolled = await cli(['rollout', POD, '--memory', '128m', '--monitor', '0', '--json'], { FROM_CLI: 'changed, but not given' });
    t.equal(rolled.code, 0, `rollout exits 0: ${rolled.stderr}`);
    const names = (await podContainers(POD, 'replica')).filter((n) => !/-sandbox$/.test(n));
    t.equal(names.length, 4, 'still 4 replicas');
    for (const r of names) {
      t.equal((await cgroupLimits(r)).memory, 128 * MiB, `${r}: the new memory limit`);
      t.equal(await mainUid(r), 1234, `${r}: the user stays`);
      t.equal((await mainEnv(r))['FROM_CLI'], 'from the shell', `${r}: the environment stays as created`);
    }
    const seen = await answers(port, '/upstream', 40);
    t.same([...seen.keys()].filter((k) => !k.endsWith('via Hello from db')), [], 'still on the backend network');

    const inspected = JSON.parse((await cli(['inspect', POD])).stdout) as { spec: { options: Record<string, unknown> } };
    t.match(inspected.spec.options, { networks: [NET], memoryBytes: 128 * MiB, nanoCpus: 5e8, pidsLimit: 64, user: '1234', readOnly: true, capDrop: ['ALL'], labels: { team: 'web' } }, 'inspect shows the options');
  });

  t.test("rm removes the replicas' anonymous volumes", async (t) => {
    const names = (await podContainers(POD, 'replica')).filter((n) => !/-sandbox$/.test(n));
    const volumes = (await Promise.all(names.map((n) => docker('inspect', n, '--format', '{{range .Mounts}}{{if eq .Destination "/var/cache/app"}}{{.Name}}{{end}}{{end}}')))).filter(Boolean);
    t.equal(volumes.length, names.length, 'each replica has its anonymous volume');
    const removed = await cli(['rm', POD]);
    t.equal(removed.code, 0, 'rm exits 0');
    const left = (await docker('volume', 'ls', '-q')).split('\n');
    t.same(volumes.filter((v) => left.includes(v)), [], 'none of them is left');
    t.same(await podContainers(POD), [], 'nothing of the pod is left');
  });

  t.test('a command after -- is what runs, with --workdir and --entrypoint', async (t) => {
    const cmdPort = await freePort();
    const r = await cli([
      'create', CMD_POD, '--port', `127.0.0.1:${cmdPort}:8080`, '--replicas', '2', '--monitor', '0',
      '--entrypoint', '', '--workdir', '/app/dist',
      '--', 'sh', '-c', 'MESSAGE="from the command in $(pwd)" exec node examples/http-server.js',
    ]);
    t.equal(r.code, 0, `create exits 0: ${r.stderr}`);
    const seen = await answers(cmdPort, '/', 20);
    t.same([...seen.keys()].filter((k) => !/^200 Hello from e2e-opt-cmd-\d: from the command in \/app\/dist$/.test(k)), [], `every answer comes from the command (${JSON.stringify([...seen])})`);
    t.equal((await cli(['rm', CMD_POD])).code, 0, 'rm exits 0');
  });

  t.test('bad input: one line, its exit code, nothing left', async (t) => {
    const missingDir = join(dir, 'nope');
    writeFileSync(join(dir, 'bad.env'), 'GOOD=1\nBAD KEY=2\n');
    const unreadable = join(dir, 'unreadable.env');
    writeFileSync(unreadable, 'A=1\n');
    chmodSync(unreadable, 0o000);
    const base = ['create', BAD, '--port', `127.0.0.1:${await freePort()}:8080`, '--monitor', '0'];
    const cases: Array<[string, string[], number, RegExp]> = [
      ['a missing env file', ['--env-file', join(dir, 'missing.env')], 2, /--env-file ".*missing\.env" does not exist/],
      ['an env file that is a folder', ['--env-file', dir], 2, /is a folder/],
      ['a bad env-file line', ['--env-file', join(dir, 'bad.env')], 2, /bad\.env" line 2: "BAD KEY" is not a variable name/],
      ['a volume docker would refuse', ['-v', 'data:relative/path'], 2, /-v "data:relative\/path": the container path "relative\/path" is not absolute/],
      ['a bad volume option', ['-v', `${dir}:/x:rx`], 2, /"rx" is not a volume option/],
      ['a bind source that does not exist', ['-v', `${missingDir}:/data`], 2, /the bind source .*nope does not exist/],
      ['--mount with a key it does not take', ['--mount', `type=bind,source=${dir},target=/x,consistency=cached`], 2, /"consistency" is not supported/],
      ['--memory abc', ['--memory', 'abc'], 2, /--memory "abc" is not a size/],
      ['--memory below the minimum', ['--memory', '1k'], 2, /below the engines' minimum of 6m/],
      ['--cpus 0', ['--cpus', '0'], 2, /--cpus "0" is not a positive number/],
      ['--cpus -1', ['--cpus=-1'], 2, /--cpus "-1" is not a positive number/],
      ['a network that does not exist', ['--network', 'e2e-opt-no-such-net'], 4, /network "e2e-opt-no-such-net" does not exist; create it with `docker network create e2e-opt-no-such-net`/],
      ['a reserved label', ['--label', 'io.reuseport-pod.pod=x'], 2, /reuseport-pod's own/],
      ['--no-healthcheck with --health-cmd', ['--no-healthcheck', '--health-cmd', 'true'], 2, /--no-healthcheck conflicts with the --health-\* options/],
      ['a bad duration', ['--health-cmd', 'true', '--health-interval', '5'], 2, /--health-interval "5" is not a duration/],
      ['--network host', ['--network', 'host'], 2, /--network host is the pod's own business/],
    ];
    if (process.getuid?.() !== 0) cases.push(['an unreadable env file', ['--env-file', unreadable], 2, /is not readable/]);
    for (const [what, args, code, message] of cases) {
      const r = await cli([...base, ...args]);
      t.equal(r.code, code, `${what}: exit ${code}`);
      t.match(r.stderr, message, `${what}: says why`);
      t.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line (${r.stderr.trim()})`);
      t.same(await podContainers(BAD), [], `${what}: nothing left`);
    }

    const user = await cli([...base, '--user', 'nosuchuser']);
    t.not(user.code, 0, 'a user the image lacks: non-zero exit');
    t.match(user.stderr, podman ? /nosuchuser/ : /unable to find user nosuchuser/, 'says the user is missing');
    t.same(await podContainers(BAD), [], 'a user the image lacks: nothing left');

    const processPod = await cli(['create', BAD, '--runtime', 'process', '--port', String(await freePort()), '--memory', '64m', '--', 'node', 'x.js']);
    t.equal(processPod.code, 2, '--runtime process refuses --memory');
    t.match(processPod.stderr, /--memory is for containers: a --runtime process replica is a local process; drop it/);
  });
});
