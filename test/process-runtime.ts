// The process runtime as a user meets it: the built CLI with --runtime process, no container
// engine (DOCKER_HOST points nowhere), real child processes sharing one host port with
// SO_REUSEPORT, plain HTTP to 127.0.0.1. Processes are checked by pid, from the replicas' own log
// lines ("listening ... pid N") and from the records the runtime keeps in XDG_STATE_HOME.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { cli as runCli, ownPods, requireEngine, spread, type CliResult } from './helpers/cli.ts';
import { ensureImages, waitFor } from './helpers/docker.ts';
import { exampleJs } from './helpers/example-process.ts';
import { followsThePod } from './helpers/follow.ts';
import { freePort } from './helpers/http-client.ts';
import { startLoad } from './helpers/load.ts';

const POD = 'proc-web';
const state = mkdtempSync(join(tmpdir(), 'reuseport-pod-state-'));
const containers = join(state, 'reuseport-pod', 'containers');
const env = { XDG_STATE_HOME: state, DOCKER_HOST: 'unix:///nonexistent/docker.sock', REUSEPORT_POD_RUNTIME: '' };
const cli = (args: string[]): Promise<CliResult> => runCli(args, env);
const command = ['--', process.execPath, exampleJs];

interface Run {
  keeperPid: number;
  pid: number;
}

/** Every pid the runtime has recorded: each container's keeper and its command. */
function recordedPids(): number[] {
  let names: string[] = [];
  try {
    names = readdirSync(containers);
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    try {
      const run = JSON.parse(readFileSync(join(containers, n, 'run.json'), 'utf8')) as Run;
      return [run.keeperPid, run.pid].filter((p) => p > 0);
    } catch {
      return [];
    }
  });
}

/**
 * Gone: kill(pid, 0) finds no process. A zombie counts as gone too: it runs no code and holds no
 * socket, and a keeper whose parent (the CLI) has exited is reaped by PID 1, which on some
 * machines (minimal VM or container inits) never reaps.
 */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** replica name -> the pids its server logged, in order ("web-1 listening on ... pid 123"). */
async function loggedPids(pod: string): Promise<Map<string, number[]>> {
  const r = await cli(['logs', pod]);
  if (r.code !== 0) throw new Error(`logs exited ${r.code}: ${r.stderr}`);
  const pids = new Map<string, number[]>();
  for (const m of r.stdout.matchAll(/^(\S+)\s+\| .* listening on .*pid (\d+)\)$/gm)) {
    pids.set(m[1]!, [...(pids.get(m[1]!) ?? []), Number(m[2])]);
  }
  return pids;
}

// The host's net.ipv4.tcp_migrate_req: the process runtime's pods live in the host's namespace, so
// whether a closing listener's queued connections move to its siblings is the host's setting.
const MIGRATE = '/proc/sys/net/ipv4/tcp_migrate_req';
function hostMigrate(): string | undefined {
  try {
    return readFileSync(MIGRATE, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Sets the host's tcp_migrate_req to 1 until the test ends (then back); false when not allowed here. */
function migrateForTest(t: Tap.Test): boolean {
  const old = hostMigrate();
  if (old === undefined) return false;
  if (old === '1') return true;
  try {
    writeFileSync(MIGRATE, '1');
  } catch {
    return false;
  }
  t.teardown(() => writeFileSync(MIGRATE, old));
  return true;
}

const lastPid = (pids: Map<string, number[]>, replica: string): number => pids.get(replica)?.at(-1) ?? 0;

interface PsJson {
  pod: { state: string; ready: number; desired: number };
  replicas: Array<{ name: string; state: string; restarts: number }>;
}

async function ps(pod: string): Promise<PsJson> {
  const r = await cli(['ps', pod, '--json']);
  if (r.code !== 0) throw new Error(`ps exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as PsJson;
}

function assertSpread(t: Tap.Test, counts: Map<string, number>, replicas: number[], total: number, minShare: number): void {
  const expected = replicas.map((n) => `Hello from ${POD}-${n}`).sort();
  t.same([...counts.keys()].sort(), expected, `exactly replicas ${replicas.join(',')} answer`);
  for (const key of expected) {
    const share = (counts.get(key) ?? 0) / total;
    t.ok(share >= minShare, `${key}: ${(share * 100).toFixed(0)}% of ${total} (>= ${minShare * 100}%)`);
  }
}

// Whatever a failed test leaves running dies with it.
t.teardown(() => {
  for (const pid of recordedPids()) {
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  rmSync(state, { recursive: true, force: true });
});

t.test('a pod of local processes: create, spread, ps/ls, logs, scale, restart, rollout, rm', async (t) => {
  const port = await freePort();
  const created = await cli(['create', POD, '--runtime', 'process', '--port', String(port), '--replicas', '3', '--json', ...command]);
  t.equal(created.code, 0, `create exits 0 (stderr: ${created.stderr.trim()})`);
  t.equal(JSON.parse(created.stdout).replicas.length, 3, 'three replicas made');
  t.match(created.stderr, new RegExp(`Waiting for 3 listeners on port ${port}`), 'waited for the listeners');
  const warning = /tcp_migrate_req.*scale-down and rollout may reset connections/;
  if (hostMigrate() === '1') t.notMatch(created.stderr, warning, "the host's tcp_migrate_req is 1: no warning");
  else {
    t.match(created.stderr, warning, `the host's tcp_migrate_req is ${hostMigrate() ?? 'missing'}: create says what that costs`);
    if (hostMigrate() !== undefined) t.match(created.stderr, /sysctl -w net\.ipv4\.tcp_migrate_req=1/, 'and how to set it');
    t.equal(created.stderr.split('\n').filter((l) => warning.test(l)).length, 1, 'said once');
  }

  await t.test('300 new connections reach all 3 replicas', async (t) => {
    assertSpread(t, await spread(port, 300), [1, 2, 3], 300, 0.2);
  });

  await t.test('ps and ls report the pod without any container engine', async (t) => {
    const { pod, replicas } = await ps(POD);
    t.same(replicas.map((r) => [r.name, r.state, r.restarts]), [1, 2, 3].map((n) => [`${POD}-${n}`, 'running', 0]));
    t.same([pod.state, pod.ready, pod.desired], ['running', 3, 3]);
    for (const args of [['ls', '--json'], ['ls', '--runtime', 'process', '--json']]) {
      const ls = await cli(args);
      t.equal(ls.code, 0, `${args.join(' ')} exits 0 (stderr: ${ls.stderr.trim()})`);
      const row = (JSON.parse(ls.stdout) as Array<{ name: string; ports: string[]; ready: number }>).find((p) => p.name === POD);
      t.same(row && [row.ports, row.ready], [[`${port}:${port}`], 3], `${args.join(' ')} lists the pod`);
    }
  });

  await t.test('logs: every replica, prefixed with its name', async (t) => {
    const pids = await loggedPids(POD);
    t.same([...pids.keys()].sort(), [1, 2, 3].map((n) => `${POD}-${n}`));
  });

  await t.test('scale 3 -> 5 -> 2', async (t) => {
    const up = await cli(['scale', POD, '--replicas', '5']);
    t.equal(up.code, 0, `scale to 5 exits 0 (stderr: ${up.stderr.trim()})`);
    t.same((await ps(POD)).replicas.map((r) => r.name), [1, 2, 3, 4, 5].map((n) => `${POD}-${n}`));
    assertSpread(t, await spread(port, 500), [1, 2, 3, 4, 5], 500, 0.1);
    const before = await loggedPids(POD);
    const down = await cli(['scale', POD, '--replicas', '2']);
    t.equal(down.code, 0, `scale to 2 exits 0 (stderr: ${down.stderr.trim()})`);
    t.same((await ps(POD)).replicas.map((r) => r.name), [`${POD}-1`, `${POD}-2`]);
    for (const n of [3, 4, 5]) t.ok(gone(lastPid(before, `${POD}-${n}`)), `${POD}-${n}'s process is gone`);
    assertSpread(t, await spread(port, 200), [1, 2], 200, 0.2);
  });

  await t.test('a replica killed with SIGKILL is restarted', async (t) => {
    const victim = lastPid(await loggedPids(POD), `${POD}-1`);
    t.ok(victim > 0, `${POD}-1 logged its pid (${victim})`);
    process.kill(victim, 'SIGKILL');
    const after = await waitFor('a new process of replica 1', () => loggedPids(POD), (p) => lastPid(p, `${POD}-1`) !== victim, 15_000);
    t.not(lastPid(after, `${POD}-1`), victim, 'a new pid');
    t.ok(gone(victim), 'the killed process is gone');
    const row = await waitFor('ps to show it running again', () => ps(POD), (p) => p.replicas[0]?.state === 'running' && p.pod.ready === 2, 15_000);
    t.ok((row.replicas[0]?.restarts ?? 0) >= 1, `ps counts the restart (${row.replicas[0]?.restarts})`);
    assertSpread(t, await spread(port, 200), [1, 2], 200, 0.2);
  });

  await t.test('rollout to a new environment: no request fails with the host migrating queued connections', async (t) => {
    // Without tcp_migrate_req=1 the kernel resets what waits in a closing listener's queue: then
    // only "never refused, never a wrong answer" holds (a listener is always there).
    const lossless = migrateForTest(t);
    if (!lossless && process.env['CI'] === 'true') t.fail(`CI runs as root and must be able to set ${MIGRATE} for this test`);
    const load = startLoad({ port, mode: 'connection-per-request', concurrency: 4, maxDurationMs: 60_000 });
    const rolled = await cli(['rollout', POD, '--env', 'COLOR=blue']);
    const report = await load.stop();
    t.equal(rolled.code, 0, `rollout exits 0 (stderr: ${rolled.stderr.trim()})`);
    t.ok(report.requests > 0, `${report.requests} requests during the rollout`);
    if (lossless) t.equal(report.failed, 0, `no failed request (${JSON.stringify(report.failures)})`);
    // A reset queued connection reads as ECONNRESET or, before any byte came back, "socket hang up".
    else t.same(Object.keys(report.failures).filter((k) => k !== 'ECONNRESET' && k !== 'socket hang up'), [], `the host's tcp_migrate_req cannot be set here: only resets of queued connections (${JSON.stringify(report.failures)})`);
    const inspected = await cli(['inspect', POD]);
    t.same(JSON.parse(inspected.stdout).spec.env, { COLOR: 'blue' }, 'the pod records the new environment');
    const { replicas } = await ps(POD);
    t.equal(replicas.length, 2, 'still 2 replicas');
    t.ok(replicas.every((r) => r.state === 'running'), 'all running');
  });

  await t.test('bad input: one line, a meaningful exit code, nothing left behind', async (t) => {
    const before = readdirSync(containers).sort();
    const cases: Array<[string, string[], number, RegExp]> = [
      ['a port mapping', ['create', 'proc-bad', '--runtime', 'process', '--port', '80:8080', ...command], 2, /host port must equal the container port/],
      ['no command', ['create', 'proc-bad', '--runtime', 'process', '--port', String(await freePort())], 2, /runs a command: give it after --/],
      ['a command that does not exist', ['create', 'proc-bad', '--runtime', 'process', '--port', String(await freePort()), '--', 'no-such-program-here'], 4, /not found in PATH/],
      ['an existing name', ['create', POD, '--runtime', 'process', '--port', String(await freePort()), ...command], 5, /already exists/],
      ['a container option', ['create', 'proc-bad', '--runtime', 'process', '--port', String(await freePort()), '--memory', '64m', ...command], 2, /--memory is for containers: a --runtime process replica is a local process; drop it/],
      ['--network', ['create', 'proc-bad', '--runtime', 'process', '--port', String(await freePort()), '--network', 'backend', ...command], 2, /--network is for containers/],
      ['--volume', ['create', 'proc-bad', '--runtime', 'process', '--port', String(await freePort()), '-v', '/tmp:/x', ...command], 2, /--volume is for containers/],
      ['a --workdir that is not a folder', ['create', 'proc-bad', '--runtime', 'process', '--port', String(await freePort()), '--workdir', '/no/such/dir', ...command], 2, /--workdir "\/no\/such\/dir": \/no\/such\/dir is not a folder/],
    ];
    for (const [what, args, code, message] of cases) {
      const r = await cli(args);
      t.equal(r.code, code, `${what}: exit ${code}`);
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('reuseport-pod:'));
      t.equal(errors.length, 1, `${what}: one error line`);
      t.match(errors[0], message, `${what}: says why`);
      t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
    }
    t.same(readdirSync(containers).sort(), before, 'no record added or removed');
    t.equal((await ps(POD)).replicas.length, 2, 'the existing pod is untouched');
  });

  await t.test('--env-file and --workdir apply to local processes', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'proc-opt-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'message.txt'), 'read from the working directory\n');
    writeFileSync(join(dir, 'app.env'), '# relative to --workdir\nMESSAGE_FILE=message.txt\n');
    const port = await freePort();
    const made = await cli(['create', 'proc-opt', '--runtime', 'process', '--port', String(port), '--replicas', '2', '--monitor', '0', '--env-file', join(dir, 'app.env'), '--workdir', dir, ...command]);
    t.equal(made.code, 0, `create exits 0 (stderr: ${made.stderr.trim()})`);
    const seen = await spread(port, 20, 4);
    t.same([...seen.keys()].filter((k) => !/^Hello from proc-opt-\d: read from the working directory$/.test(k)), [], `each answer read the file from the working directory (${JSON.stringify([...seen])})`);
    t.equal((await cli(['rm', 'proc-opt'])).code, 0, 'rm exits 0');
  });

  await t.test('rm leaves no process and no state behind', async (t) => {
    const pids = [...new Set([...recordedPids(), ...[...(await loggedPids(POD)).values()].flat()])];
    t.ok(pids.length >= 4, `${pids.length} pids recorded (keepers and servers)`);
    const removed = await cli(['rm', POD]);
    t.equal(removed.code, 0, `rm exits 0 (stderr: ${removed.stderr.trim()})`);
    t.same(readdirSync(containers), [], 'no record left in the state directory');
    for (const pid of pids) t.ok(gone(pid), `pid ${pid} is gone`);
    const again = await cli(['ps', POD]);
    t.not(again.code, 0, 'the pod is gone for ps too');
  });
});

// The same steps as test/e2e-logs.ts, with local processes: the process runtime's own events
// (its records compared every half second) are what logs -f follows here.
t.test('logs -f follows a process pod through scale, restart, rollout and rm', async (t) => {
  const pod = 'proc-logs';
  const port = await freePort();
  const created = await cli(['create', pod, '--runtime', 'process', '--port', String(port), '--replicas', '2', '--stop-timeout', '3', '-q', ...command]);
  t.equal(created.code, 0, `create exits 0 (stderr: ${created.stderr.trim()})`);
  t.teardown(async () => void (await cli(['rm', pod, '-q'])));
  await followsThePod(t, {
    pod,
    port,
    cli,
    env,
    // The keeper restarts a command that dies: the same replica, a new process.
    restart: async (_replica, pid) => void process.kill(pid, 'SIGKILL'),
    lastLinesOfRemoved: true,
  });
});

// A container pod and a process pod may share a name (each runtime has its own names): `ls` lists
// both, each with its own ports and readiness, instead of mixing their containers into one row.
t.test('ls: a container pod and a process pod of the same name are two pods', async (t) => {
  if (!(await requireEngine(t))) return;
  await ensureImages('pause', 'node-base', 'example');
  const twin = 'proc-twin';
  await ownPods(t, [twin]);
  const engineEnv = { XDG_STATE_HOME: state, REUSEPORT_POD_RUNTIME: '' };
  t.teardown(async () => {
    await cli(['rm', twin]);
  });
  const [containerPort, processPort] = [await freePort(), await freePort()];
  const inEngine = await runCli(['create', twin, '--port', `127.0.0.1:${containerPort}:8080`, '--replicas', '2', '--quiet'], { ...engineEnv, DOCKER_HOST: process.env['DOCKER_HOST'] ?? '' });
  t.equal(inEngine.code, 0, `container pod created (stderr: ${inEngine.stderr.trim()})`);
  const local = await cli(['create', twin, '--runtime', 'process', '--port', `127.0.0.1:${processPort}:${processPort}`, '--replicas', '1', '--quiet', ...command]);
  t.equal(local.code, 0, `process pod created (stderr: ${local.stderr.trim()})`);

  const ls = await runCli(['ls', '--json'], { ...engineEnv, DOCKER_HOST: process.env['DOCKER_HOST'] ?? '' });
  t.equal(ls.code, 0, ls.stderr);
  const rows = (JSON.parse(ls.stdout) as Array<{ name: string; ports: string[]; ready: number; desired: number; state: string }>).filter((r) => r.name === twin);
  t.same(
    rows.map((r) => [r.ports, r.ready, r.desired, r.state]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    [
      [[`127.0.0.1:${containerPort}:8080`], 2, 2, 'running'],
      [[`127.0.0.1:${processPort}:${processPort}`], 1, 1, 'running'],
    ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    'two rows, each with its own ports and readiness',
  );
  t.equal((await cli(['rm', twin])).code, 0, 'the process pod is removed (its name picks the process runtime)');
  const left = await runCli(['ls', '--json'], { ...engineEnv, DOCKER_HOST: process.env['DOCKER_HOST'] ?? '' });
  t.same((JSON.parse(left.stdout) as Array<{ name: string; ports: string[] }>).filter((r) => r.name === twin).map((r) => r.ports), [[`127.0.0.1:${containerPort}:8080`]], 'the container pod is still listed');
});
