// Self-repair, end to end: a sandbox that restarts strands the replicas (they stay "Up" in the old,
// empty network namespace). `ls`/`ps` must say so, `repair` must bring the pod back, and
// `supervise` must do it by itself, as well as re-create a replica that was removed. On Podman
// (test/podman-e2e.ts), a crash of the sandbox's process does not strand them: that is checked too.
import { spawn, type ChildProcess } from 'node:child_process';
import t from 'tap';
import { cli, ps, ownPods, cliPath, podContainers, requireEngine, spread } from './helpers/cli.ts';
import { docker, engine, ensureImages, inspect, sleep, waitFor } from './helpers/docker.ts';
import { freePort, getNewConnection } from './helpers/http-client.ts';

const PODS = { manual: 'e2e-rep-a', supervised: 'e2e-rep-s' };

interface DockerState {
  Running: boolean;
  Restarting: boolean;
  Pid: number;
}
interface LsRow {
  name: string;
  ready: number;
  desired: number;
  state: string;
}

async function ls(pod: string): Promise<LsRow | undefined> {
  const r = await cli(['ls', '--json']);
  if (r.code !== 0) throw new Error(`ls exited ${r.code}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as LsRow[]).find((p) => p.name === pod);
}

async function create(pod: string, replicas: number): Promise<number> {
  const port = await freePort();
  const r = await cli(['create', pod, '--port', `127.0.0.1:${port}:8080`, '--replicas', String(replicas), '--quiet']);
  if (r.code !== 0) throw new Error(`create ${pod} exited ${r.code}: ${r.stderr}`);
  return port;
}

const hellos = (pod: string, ns: number[]) => ns.map((n) => `Hello from ${pod}-${n}`);

/** Every replica answers, and nothing else: polls (a restarted replica needs a moment to listen). */
async function allAnswer(port: number, pod: string, ns: number[], timeoutMs = 20_000): Promise<string[]> {
  const want = hellos(pod, ns).join();
  const counts = await waitFor(`${pod}'s replicas ${ns.join(',')} to answer`, () => spread(port, 20 * ns.length), (m) => [...m.keys()].sort().join() === want, timeoutMs);
  return [...counts.keys()].sort();
}

/** The stranded state, as the user sees it: ls not running, ps health 'stranded' for every replica. */
async function assertStranded(t: Tap.Test, pod: string, replicas: number): Promise<void> {
  const row = await ls(pod);
  t.ok(row && row.ready < row.desired, `ls: ready ${row?.ready} < desired ${row?.desired}`);
  t.not(row?.state, 'running', `ls: the pod is ${row?.state}, not running`);
  const rows = await ps(pod);
  t.same(rows.map((r) => [r.state, r.health]), Array.from({ length: replicas }, () => ['running', 'stranded']), 'ps: docker says running, health says stranded');
  const probe = await getNewConnection((await portOf(pod)), '/', 2_000).then(
    (r) => `answered ${r.status}`,
    (err: Error) => `failed (${err.message})`,
  );
  t.match(probe, /^failed/, `a request to the stranded pod fails: ${probe}`);
}

async function portOf(pod: string): Promise<number> {
  const out = await docker('port', `${pod}-sandbox`, '8080/tcp');
  return Number(/:(\d+)$/m.exec(out)?.[1]);
}

async function repair(t: Tap.Test, pod: string, expect: RegExp): Promise<void> {
  const r = await cli(['repair', pod, '--json']);
  t.equal(r.code, 0, `repair exits 0 (stderr: ${r.stderr.trim()})`);
  const result = JSON.parse(r.stdout || '{}') as { actions?: string[]; seconds?: number };
  t.match(result.actions?.join('; ') ?? '', expect, `repair says what it did: ${result.actions?.join('; ')} (${result.seconds} s)`);
}

t.test('repair and supervise', async (t) => {
  if (!(await requireEngine(t))) return;
  await ensureImages('pause', 'node-base', 'example');
  await ownPods(t, Object.values(PODS));

  t.test('repair after `docker restart` of the sandbox and after a crash of its process', async (t) => {
    const pod = PODS.manual;
    const port = await create(pod, 3);
    t.same(await allAnswer(port, pod, [1, 2, 3]), hellos(pod, [1, 2, 3]), 'the pod serves');

    await docker('restart', `${pod}-sandbox`);
    await assertStranded(t, pod, 3);
    await repair(t, pod, /restarted stranded .*-1.*restarted stranded .*-2.*restarted stranded .*-3/);
    t.same(await allAnswer(port, pod, [1, 2, 3]), hellos(pod, [1, 2, 3]), 'after repair: all 3 replicas answer');
    t.same((await ps(pod)).map((r) => r.health), ['ok', 'ok', 'ok'], 'ps: all ok');
    t.match(await ls(pod), { ready: 3, desired: 3, state: 'running' });

    // A crash: kill -9 of the sandbox's main process; the restart policy starts it again.
    const pid = Number(await docker('inspect', '-f', '{{.State.Pid}}', `${pod}-sandbox`));
    t.ok(pid > 1, `the sandbox's process is host pid ${pid}`);
    process.kill(pid, 'SIGKILL');
    // "Running" is already true while Docker waits to restart it (Restarting, Pid 0): wait for a new process.
    const state = await waitFor('the restart policy to restart the sandbox', () => inspect<DockerState>(`${pod}-sandbox`, '.State'), (s) => s.Running && !s.Restarting && s.Pid > 0 && s.Pid !== pid, 30_000);
    t.ok(state.Running, `sandbox running again (pid ${state.Pid}, restarts ${await docker('inspect', '-f', '{{.RestartCount}}', `${pod}-sandbox`)})`);
    if ((await engine()) === 'podman') {
      // Podman keeps the pod's namespace when the restart policy brings a crashed sandbox back:
      // the replicas never left it, and the tool must not claim otherwise (nor restart them).
      t.same(await allAnswer(port, pod, [1, 2, 3]), hellos(pod, [1, 2, 3]), 'Podman: after the crash all 3 replicas still answer');
      t.same((await ps(pod)).map((r) => r.health), ['ok', 'ok', 'ok'], 'ps: all ok (same namespace as the sandbox)');
    } else {
      await assertStranded(t, pod, 3);
      await repair(t, pod, /restarted stranded/);
      t.same(await allAnswer(port, pod, [1, 2, 3]), hellos(pod, [1, 2, 3]), 'after repair: all 3 replicas answer');
    }
    const again = await cli(['repair', pod]);
    t.match(again.stdout, /healthy, nothing to repair/, 'a second repair has nothing to do');
  });

  t.test('supervise repairs a sandbox restart and re-creates a removed replica', async (t) => {
    const pod = PODS.supervised;
    const port = await create(pod, 3);
    await allAnswer(port, pod, [1, 2, 3]);

    const sup: ChildProcess = spawn(process.execPath, [cliPath, 'supervise', pod, '--interval', '5'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    sup.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    sup.stderr!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const exited = new Promise<number | null>((resolve) => sup.once('exit', (code) => resolve(code)));
    t.teardown(async () => {
      if (sup.exitCode === null && sup.signalCode === null) {
        sup.kill('SIGTERM');
        const code = await Promise.race([exited, sleep(10_000).then(() => 'timeout' as const)]);
        if (code === 'timeout') sup.kill('SIGKILL');
      }
    });
    await waitFor('the supervisor to watch engine events', async () => out, (s) => /watching engine events/.test(s), 15_000);

    // Sandbox restart: time from the restart to the first request answered again.
    const issued = Date.now();
    await docker('restart', `${pod}-sandbox`);
    const restarted = Date.now();
    let failedProbes = 0;
    const firstOk = await waitFor(
      'the pod to answer again',
      () =>
        getNewConnection(port, '/', 1_000).then(
          () => Date.now(),
          () => (failedProbes++, 0),
        ),
      (at) => at > 0,
      20_000,
    );
    const fromIssue = (firstOk - issued) / 1000;
    const fromDone = (firstOk - restarted) / 1000;
    t.comment(`supervise: sandbox restart repaired; first answer ${fromIssue.toFixed(2)} s after \`docker restart\` was issued (${fromDone.toFixed(2)} s after it returned; ${failedProbes} probes failed meanwhile)`);
    t.ok(fromIssue < 20, `the pod answers again within 20 s (${fromIssue.toFixed(2)} s; the aim is 5 s)`);
    t.same(await allAnswer(port, pod, [1, 2, 3]), hellos(pod, [1, 2, 3]), 'all 3 replicas answer');
    // The log line comes when the repair returns, a moment after the replicas listen.
    await waitFor('the supervisor to log its repair', async () => out, (s) => new RegExp(`${pod}: restarted stranded`).test(s), 10_000);
    t.pass('the supervisor logged its repair');

    // A replica removed behind the tool's back: the supervisor re-creates it.
    const removed = Date.now();
    await docker('rm', '-f', `${pod}-2`);
    await waitFor('the supervisor to re-create the replica', () => podContainers(pod, 'replica'), (names) => names.includes(`${pod}-2`), 20_000);
    t.same(await allAnswer(port, pod, [1, 2, 3]), hellos(pod, [1, 2, 3]), 'all 3 replicas answer again');
    t.comment(`supervise: removed replica back and answering ${((Date.now() - removed) / 1000).toFixed(2)} s after \`docker rm -f\``);
    await waitFor('the supervisor to log it', async () => out, (s) => new RegExp(`${pod}: (re-created|added) ${pod}-2`).test(s), 10_000);
    t.pass('the supervisor logged it');
    t.same((await ps(pod)).map((r) => r.health), ['ok', 'ok', 'ok']);

    sup.kill('SIGTERM');
    const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout' as const)]);
    t.equal(code, 0, 'supervise exits 0 on SIGTERM');
    t.comment(`supervise log:\n${out.trim().replace(/^/gm, '  ')}`);
  });
});
