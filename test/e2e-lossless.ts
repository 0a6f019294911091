// Lossless operations, end to end: the built CLI changes a real pod while an in-process client
// (test/helpers/load.ts) sends bounded load to 127.0.0.1, and every request's fate is counted.
//   - rollout of 3 replicas to a new image, connection-per-request load: 0 failed requests, and
//     afterwards only the new replicas answer;
//   - scale 5 -> 1 under the same load: 0 failed;
//   - rollout under keep-alive load: 0 failures on fresh sockets; failures on reused sockets (a
//     client that sent a request on a connection the draining server was closing as idle) counted
//     and reported;
//   - kill -9 of one replica's process (a crash): the others keep answering, the restart policy
//     brings it back;
//   - a rollout to an image whose process exits: it fails, rolls back (the old spec recorded again), says so,
//     the old replicas keep serving (0 failed requests meanwhile) and nothing is left behind.
import t from 'tap';
import { cli, ps, forceRemovePod, podContainers, requireEngine, spread, type CliResult } from './helpers/cli.ts';
import { docker, ensureImages, exampleImage, inspect, nodeBaseImage, sleep, waitFor } from './helpers/docker.ts';
import { freePort } from './helpers/http-client.ts';
import { describe, startLoad, type LoadMode, type LoadReport } from './helpers/load.ts';

const PODS = { roll: 'e2e-ll-roll', scale: 'e2e-ll-scale', ka: 'e2e-ll-ka', kill: 'e2e-ll-kill', fail: 'e2e-ll-fail' };
// A second tag of the example image: a "new image" for rollout without building one.
const V2 = 'reuseport-pod/example:e2e-ll-v2';

async function create(t: Tap.Test, pod: string, replicas: number): Promise<number> {
  const port = await freePort();
  const r = await cli(['create', pod, '--port', `127.0.0.1:${port}:8080`, '--replicas', String(replicas), '--quiet']);
  if (r.code !== 0) throw new Error(`create ${pod} exited ${r.code}: ${r.stderr}`);
  t.pass(`created ${pod} with ${replicas} replicas on 127.0.0.1:${port}`);
  return port;
}

const names = (pod: string, ns: number[]) => ns.map((n) => `${pod}-${n}`);

/** The first few failures, with when they happened, for an assertion message. */
function failuresOf(report: LoadReport, limit = 8): string {
  return report.records
    .filter((r) => !r.ok)
    .slice(0, limit)
    .map((r) => `${r.start.toFixed(0)} ms: ${r.failure} (${r.detail ?? ''})${r.reused ? ' [reused socket]' : ''}`)
    .join('; ');
}

/**
 * Runs `op` (a CLI call) while `mode` load runs against the port: warm-up first (some requests
 * answered), then the operation, then a short tail. The load is bounded (45 s, 40 000 requests)
 * whatever happens to the operation.
 */
async function underLoad(port: number, mode: LoadMode, op: () => Promise<CliResult>): Promise<{ result: CliResult; report: LoadReport; opMs: [number, number] }> {
  const load = startLoad({ port, mode, concurrency: 6, maxDurationMs: 45_000, maxRequests: 40_000, timeoutMs: 5_000 });
  try {
    await waitFor('the load to warm up', async () => load.completed(), (n) => n >= 50, 10_000);
    const from = load.now();
    const result = await op();
    const to = load.now();
    await sleep(300);
    return { result, report: await load.stop(), opMs: [from, to] };
  } finally {
    await load.stop();
  }
}

t.test('lossless operations under load', async (t) => {
  if (!(await requireEngine(t))) return;
  await ensureImages('pause', 'node-base', 'example');
  const removeAll = async () => {
    for (const pod of Object.values(PODS)) await forceRemovePod(pod);
  };
  await removeAll();
  t.teardown(async () => {
    await removeAll();
    await docker('rmi', V2).catch(() => undefined);
  });
  await docker('tag', exampleImage, V2);

  t.test('rollout of 3 replicas to a new image, connection-per-request load: 0 failed', async (t) => {
    const pod = PODS.roll;
    const port = await create(t, pod, 3);
    const { result, report } = await underLoad(port, 'connection-per-request', () => cli(['rollout', pod, '--image', V2, '--json']));
    t.equal(result.code, 0, `rollout exits 0 (stderr: ${result.stderr.trim()})`);
    t.comment(describe(report));
    t.ok(report.ok > 100, `the load ran (${report.ok} answers)`);
    t.equal(report.failed, 0, `no request failed${report.failed ? `: ${failuresOf(report)}` : ''}`);

    const replaced = (JSON.parse(result.stdout) as { replaced: Array<{ old: string; new: string }> }).replaced;
    t.same(replaced.map((r) => r.old).sort(), names(pod, [1, 2, 3]), 'the 3 old replicas were replaced');
    const fresh = replaced.map((r) => r.new).sort();
    t.same(await podContainers(pod, 'replica'), fresh, 'only the new replicas exist');
    const rows = await ps(pod);
    t.same(rows.map((r) => [r.name, r.state, r.health, r.image]).sort(), fresh.map((n) => [n, 'running', 'ok', V2]), 'ps: new replicas, new image, healthy');
    const answers = await spread(port, 90);
    t.same([...answers.keys()].sort(), fresh.map((n) => `Hello from ${n}`), 'only the new replicas answer, every one of them');
    const ls = (JSON.parse((await cli(['ls', '--json'])).stdout) as Array<{ name: string; image: string; ready: number; desired: number }>).find((p) => p.name === pod);
    t.match(ls, { image: V2, ready: 3, desired: 3 }, 'the recorded spec names the new image');
    t.same(await podContainers(pod, 'lock'), [], 'no lock left');
  });

  t.test('scale 5 -> 1 under connection-per-request load: 0 failed', async (t) => {
    const pod = PODS.scale;
    const port = await create(t, pod, 5);
    const { result, report } = await underLoad(port, 'connection-per-request', () => cli(['scale', pod, '--replicas', '1', '--json']));
    t.equal(result.code, 0, `scale exits 0 (stderr: ${result.stderr.trim()})`);
    t.same(JSON.parse(result.stdout).removed, names(pod, [5, 4, 3, 2]));
    t.comment(describe(report));
    t.ok(report.ok > 100, `the load ran (${report.ok} answers)`);
    t.equal(report.failed, 0, `no request failed${report.failed ? `: ${failuresOf(report)}` : ''}`);
    const answers = await spread(port, 30);
    t.same([...answers.keys()], [`Hello from ${pod}-1`], 'only replica 1 answers');
  });

  t.test('rollout under keep-alive load: nothing fails on a fresh socket; idle-close races counted', async (t) => {
    const pod = PODS.ka;
    const port = await create(t, pod, 3);
    const { result, report } = await underLoad(port, 'keep-alive', () => cli(['rollout', pod, '--env', 'VERSION=2', '--json']));
    t.equal(result.code, 0, `rollout exits 0 (stderr: ${result.stderr.trim()})`);
    t.comment(describe(report));
    t.comment(
      `keep-alive: ${report.reusedSocketFailures} request(s) of ${report.requests} failed on a reused socket: ` +
        'the client wrote a request on a connection the draining server was closing as idle (Node\'s agent does not retry)',
    );
    t.ok(report.ok > 100, `the load ran (${report.ok} answers)`);
    t.equal(report.freshSocketFailures, 0, `no request on a fresh socket failed${report.freshSocketFailures ? `: ${failuresOf(report)}` : ''}`);
    const fresh = (JSON.parse(result.stdout) as { replaced: Array<{ new: string }> }).replaced.map((r) => r.new).sort();
    t.equal(fresh.length, 3, '3 replicas replaced');
    for (const name of fresh) t.ok((await inspect<string[]>(name, '.Config.Env')).includes('VERSION=2'), `${name} has VERSION=2`);
    const answers = await spread(port, 90);
    t.same([...answers.keys()].sort(), fresh.map((n) => `Hello from ${n}`), 'only the new replicas answer');
  });

  t.test('kill -9 of one replica: the others keep answering, the restart policy brings it back', async (t) => {
    const pod = PODS.kill;
    const port = await create(t, pod, 3);
    const victim = `${pod}-2`;
    const pid = Number(await docker('inspect', '-f', '{{.State.Pid}}', victim));
    t.ok(pid > 1, `${victim}'s main process is host pid ${pid}`);
    const load = startLoad({ port, mode: 'connection-per-request', concurrency: 6, maxDurationMs: 30_000, maxRequests: 30_000 });
    let report: LoadReport;
    let killedAt = 0;
    try {
      await waitFor('the load to warm up', async () => load.completed(), (n) => n >= 50, 10_000);
      killedAt = load.now();
      process.kill(pid, 'SIGKILL');
      // The restart policy (unless-stopped) starts it again: a crash, not a manual stop.
      await waitFor(`${victim} to be restarted`, () => inspect<{ Running: boolean; Restarting: boolean; Pid: number }>(victim, '.State'), (s) => s.Running && !s.Restarting && s.Pid > 0 && s.Pid !== pid, 30_000);
      await sleep(500);
    } finally {
      report = await load.stop();
    }
    t.comment(describe(report));
    t.comment(`failed around the kill (connections the dead process had accepted): ${report.failed}${report.failed ? ` — ${failuresOf(report)}` : ''}`);
    const after = report.records.filter((r) => r.start > killedAt);
    const survivors = new Set(after.filter((r) => r.ok).map((r) => r.instance));
    t.ok(survivors.has(`Hello from ${pod}-1`) && survivors.has(`Hello from ${pod}-3`), 'replicas 1 and 3 answered after the kill');
    t.ok(after.filter((r) => r.ok).length > 50, `requests after the kill were answered (${after.filter((r) => r.ok).length})`);
    t.ok(report.failed <= 20, `only requests caught in the dead process failed (${report.failed})`);

    const rows = await waitFor('ps to show the victim healthy again', () => ps(pod), (rs) => rs.find((r) => r.name === victim)?.health === 'ok', 15_000);
    t.match(rows.find((r) => r.name === victim), { state: 'running', restarts: 1, health: 'ok' }, `${victim}: running again, restarts 1`);
    const answers = await waitFor('all three to answer', () => spread(port, 60), (m) => m.size === 3 && !/error/.test([...m.keys()].join()), 15_000);
    t.same([...answers.keys()].sort(), names(pod, [1, 2, 3]).map((n) => `Hello from ${n}`), 'all three answer again');
  });

  t.test('a rollout to an image that exits stops, rolls back, keeps the old replicas serving, leaves nothing', async (t) => {
    const pod = PODS.fail;
    const port = await create(t, pod, 3);
    const before = await podContainers(pod);
    // node-base's command is a bare `node`: with no stdin it exits at once.
    const { result, report } = await underLoad(port, 'connection-per-request', () => cli(['rollout', pod, '--image', nodeBaseImage, '--wait-timeout', '30']));
    t.not(result.code, 0, `rollout fails (exit ${result.code})`);
    t.equal(result.stdout, '', 'nothing on stdout');
    const esc = (s: string): string => s.replace(/[.]/g, '\\.');
    t.match(result.stderr, new RegExp(`rollout of "${pod}" to ${esc(nodeBaseImage)} failed: replica ${pod}-4 exited .*before it was listening`), 'says it failed and why');
    t.match(result.stderr, new RegExp(`rolled back: the pod runs ${esc(exampleImage)} again \\(no replica had been replaced\\)`), 'says it went back and what serves');
    t.notMatch(result.stderr, /^\s+at /m, 'no stack trace');
    t.comment(describe(report));
    t.equal(report.failed, 0, `no request failed meanwhile${report.failed ? `: ${failuresOf(report)}` : ''}`);
    const answers = await spread(port, 60);
    t.same([...answers.keys()].sort(), names(pod, [1, 2, 3]).map((n) => `Hello from ${n}`), 'the old replicas all serve');
    const withoutRecords = (names: string[]): string[] => names.filter((n) => !n.startsWith(`${pod}-state-`));
    t.same(withoutRecords(await podContainers(pod)), withoutRecords(before), `no extra containers left (${before.join(', ')})`);
    t.equal(JSON.parse((await cli(['inspect', pod])).stdout).spec.image, exampleImage, 'the pod records the old image again');
    t.same((await ps(pod)).map((r) => r.image), [exampleImage, exampleImage, exampleImage], 'still the old image');
  });
});
