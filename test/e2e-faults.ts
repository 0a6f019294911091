// Faults a user will hit (issue "Faults a user will hit"), end to end with the built CLI and the
// real engine. Commands are SIGKILLed at an engine event (test/helpers/kill-on-event.ts), as a
// killed terminal or an OOM kill would stop them between two steps:
//   1. a rollout killed after it replaced replicas: the record names the target (recorded first);
//      the same rollout again, scale and repair finish it, never mixing specs;
//   2. a create killed at its sandbox: ls/ps say "incomplete", create says so, repair completes it;
//   3. a create killed at its lock or at its network, an rm killed at its sandbox: ls shows what
//      is left, rm removes all of it;
//   4. names: a pod named like another pod's record (`web-state`) works; a record named the 0.1.0
//      way is reported as that pod's, and repair renames it;
//   5. an image that crashes 2 s after it listens fails create (the --monitor window), and a
//      rollout to it rolls back;
//   6. a crash-looping pod: ls, ps and repair all say "crashlooping"; supervise says it once and
//      does not fight the restart policy;
//   7. repair after a killed scale-down removes the surplus without starting it.
import t from 'tap';
import { spawn } from 'node:child_process';
import { cli, cliPath, ownPods, podContainers, ps, requireEngine, spread } from './helpers/cli.ts';
import { docker, dockerRun, ensureImages, exampleImage, pauseImage, sleep, waitFor } from './helpers/docker.ts';
import { freePort } from './helpers/http-client.ts';
import { killOnEvent } from './helpers/kill-on-event.ts';

const P = {
  roll: 'e2e-fault-roll',
  mid: 'e2e-fault-mid',
  create: 'e2e-fault-create',
  lock: 'e2e-fault-lock',
  net: 'e2e-fault-net',
  rm: 'e2e-fault-rm',
  names: 'e2e-fault-n',
  legacy: 'e2e-fault-l',
  crash: 'e2e-fault-crash',
  back: 'e2e-fault-back',
  loop: 'e2e-fault-loop',
  scale: 'e2e-fault-scale',
};
const CRASHES = 'reuseport-pod/crashes:e2e-faults';
const FAST = ['--monitor', '0'];

interface LsRow {
  name: string;
  state: string;
  ready: number;
  desired: number;
}

async function lsRow(pod: string): Promise<LsRow | undefined> {
  const r = await cli(['ls', '--json']);
  if (r.code !== 0) throw new Error(`ls exited ${r.code}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as LsRow[]).find((p) => p.name === pod);
}

async function create(pod: string, replicas: number, extra: string[] = []): Promise<number> {
  const port = await freePort();
  const r = await cli(['create', pod, '--port', `127.0.0.1:${port}:8080`, '--replicas', String(replicas), '--quiet', ...FAST, ...extra]);
  if (r.code !== 0) throw new Error(`create ${pod} exited ${r.code}: ${r.stderr}`);
  return port;
}

/** Each replica's COLOR, from the engine's own record of its environment. */
async function colors(pod: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of await podContainers(pod, 'replica')) {
    const env = JSON.parse(await docker('inspect', '--format', '{{json .Config.Env}}', name)) as string[];
    out[name] = env.find((e) => e.startsWith('COLOR='))?.slice(6) ?? '(none)';
  }
  return out;
}

const specOf = async (pod: string): Promise<{ image: string; env: Record<string, string> }> => JSON.parse((await cli(['inspect', pod])).stdout).spec;

t.test('faults a user will hit', async (t) => {
  if (!(await requireEngine(t))) return;
  await ensureImages('pause', 'node-base', 'example');
  const pods = [...Object.values(P), `${P.names}-state`, `${P.legacy}-state`];
  await ownPods(t, pods);
  const removeNetwork = (): Promise<unknown> => docker('network', 'rm', `${P.net}-net`).catch(() => undefined);
  await removeNetwork();
  t.teardown(removeNetwork);

  t.test('1. a rollout killed after its last replacement: the target is recorded; rollout again, scale and repair agree', async (t) => {
    const pod = P.roll;
    await create(pod, 3);
    // Old replicas go highest first: the old pod-1 is the last one destroyed.
    const k = await killOnEvent(['rollout', pod, '-e', 'COLOR=green', ...FAST], { type: 'container', action: 'destroy', name: `${pod}-1` });
    t.ok(k.event, `the rollout was killed at the destroy of ${pod}-1 (${k.stderr.trim().split('\n').at(-1)})`);
    t.same((await specOf(pod)).env, { COLOR: 'green' }, 'the pod records the target');
    const again = await cli(['rollout', pod, '-e', 'COLOR=green', ...FAST]);
    t.equal(again.code, 0, `the same rollout again exits 0 (${again.stderr.trim()})`);
    const scaled = await cli(['scale', pod, '-r', '4', ...FAST]);
    t.equal(scaled.code, 0, `scale to 4 exits 0 (${scaled.stderr.trim()})`);
    const c = await colors(pod);
    t.same(Object.values(c), ['green', 'green', 'green', 'green'], `every replica runs the recorded spec: ${JSON.stringify(c)}`);
    const repaired = await cli(['repair', pod]);
    t.equal(repaired.code, 0);
    t.match(repaired.stdout, /healthy, nothing to repair/, 'repair agrees');
  });

  t.test('1b. a rollout killed half-way: repair finishes it with the recorded spec', async (t) => {
    const pod = P.mid;
    const port = await create(pod, 3);
    const k = await killOnEvent(['rollout', pod, '-e', 'COLOR=blue', ...FAST], { type: 'container', action: 'destroy', name: `${pod}-3` });
    t.ok(k.event, 'the rollout was killed at the destroy of the first old replica');
    t.ok(Object.values(await colors(pod)).includes('(none)'), 'replicas of the old spec are left');
    const r = await cli(['repair', pod, '--json']);
    t.equal(r.code, 0, `repair exits 0 (${r.stderr.trim()})`);
    t.ok((JSON.parse(r.stdout) as { actions: string[] }).actions.some((a) => /^replaced .*interrupted rollout/.test(a)), `repair says it replaced them: ${r.stdout}`);
    t.same([...new Set(Object.values(await colors(pod)))], ['blue'], 'every replica runs the recorded spec');
    t.equal((await spread(port, 60)).size, 3, 'three replicas answer');
  });

  t.test('2. a create killed at its sandbox: incomplete in ls and ps, create says so, repair completes it', async (t) => {
    const pod = P.create;
    const port = await freePort();
    const args = ['create', pod, '--port', `127.0.0.1:${port}:8080`, '-r', '2', ...FAST];
    const k = await killOnEvent(args, { type: 'container', action: 'create', name: `${pod}-sandbox` });
    t.ok(k.event, 'the create was killed at the creation of its sandbox');
    t.match(await lsRow(pod), { state: 'incomplete', desired: 2 }, 'ls says incomplete, with the count asked for');
    const psr = await cli(['ps', pod]);
    t.match(psr.stderr, /is incomplete: a command on it was interrupted .*repair .* completes it/, 'ps says so and what to do');
    const again = await cli(args);
    t.equal(again.code, 5, 'create again: exit 5');
    t.match(again.stderr, new RegExp(`pod "${pod}" already exists, incomplete .*\`reuseport-pod repair ${pod}\` completes it`), 'and says what to do');
    const r = await cli(['repair', pod]);
    t.equal(r.code, 0, `repair exits 0 (${r.stderr.trim()})`);
    t.same([...(await spread(port, 60)).keys()].sort(), [`Hello from ${pod}-1`, `Hello from ${pod}-2`], 'both replicas answer');
    t.match(await lsRow(pod), { state: 'running', ready: 2, desired: 2 });
  });

  t.test('3. leftovers of killed commands are listed, and rm removes all of them', async (t) => {
    const lockPod = P.lock;
    const k1 = await killOnEvent(['create', lockPod, '--port', `127.0.0.1:${await freePort()}:8080`, ...FAST], { type: 'container', action: 'create', name: `${lockPod}-lock` });
    t.ok(k1.event, 'a create killed at its lock');
    t.match(await lsRow(lockPod), { state: 'incomplete' }, 'ls shows the pod as incomplete');
    const rm1 = await cli(['rm', lockPod]);
    t.equal(rm1.code, 0, `rm exits 0 (${rm1.stderr.trim()})`);
    t.same(await podContainers(lockPod), [], 'nothing of it is left');

    const netPod = P.net;
    const k2 = await killOnEvent(['create', netPod, '--mode', 'dnat', '--port', `127.0.0.1:${await freePort()}:8080`, ...FAST], { type: 'network', action: 'create', name: `${netPod}-net` });
    t.ok(k2.event, 'a DNAT create killed at its network');
    t.match(await lsRow(netPod), { state: 'incomplete' }, 'ls shows it');
    const rm2 = await cli(['rm', netPod, '--json']);
    t.equal(rm2.code, 0, `rm exits 0 (${rm2.stderr.trim()})`);
    t.same(JSON.parse(rm2.stdout).networks, [`${netPod}-net`], 'rm says it removed the network');
    t.equal(await docker('network', 'ls', '-q', '--filter', `name=^${netPod}-net$`), '', 'the network is gone');
    t.same(await podContainers(netPod), [], 'and every container');

    const rmPod = P.rm;
    await create(rmPod, 2);
    const k3 = await killOnEvent(['rm', rmPod], { type: 'container', action: 'destroy', name: `${rmPod}-sandbox` });
    t.ok(k3.event, 'an rm killed at the destroy of its sandbox');
    t.match(await lsRow(rmPod), { state: 'incomplete' }, 'ls shows what is left');
    const repair = await cli(['repair', rmPod]);
    t.not(repair.code, 0, 'repair does not bring a half-removed pod back');
    t.match(repair.stderr, new RegExp(`\`reuseport-pod rm ${rmPod}\``), 'it says to rm it');
    const rm3 = await cli(['rm', rmPod]);
    t.equal(rm3.code, 0, `rm again exits 0 (${rm3.stderr.trim()})`);
    t.same(await podContainers(rmPod), [], 'nothing is left');
    t.equal(await lsRow(rmPod), undefined, 'ls no longer shows it');
  });

  t.test("4. names: a pod named like another pod's record works; an 0.1.0 record is reported as that pod's and renamed", async (t) => {
    const a = P.names;
    const b = `${a}-state`;
    const portA = await create(a, 1);
    const portB = await create(b, 1);
    t.same([...(await spread(portA, 10)).keys()], [`Hello from ${a}-1`], `${a} serves`);
    t.same([...(await spread(portB, 10)).keys()], [`Hello from ${b}-1`], `${b} serves`);
    t.same(await podContainers(a, 'state'), [`${a}-state-g1`], `${a}'s record cannot be taken for a replica of ${b}`);

    const old = P.legacy;
    await create(old, 1);
    // The record 0.1.0 would have written: named <pod>-state-<generation>, newest generation.
    const spec = await docker('inspect', '--format', '{{index .Config.Labels "io.reuseport-pod.spec"}}', `${old}-state-g1`);
    const labels = { 'io.reuseport-pod.pod': old, 'io.reuseport-pod.role': 'state', 'io.reuseport-pod.generation': '7', 'io.reuseport-pod.replicas': '1', 'io.reuseport-pod.spec': spec };
    await docker('create', '--name', `${old}-state-7`, ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]), pauseImage);
    const clash = await cli(['create', `${old}-state`, '--port', `127.0.0.1:${await freePort()}:8080`, '-r', '7', ...FAST]);
    t.equal(clash.code, 5, 'a pod whose replica would take the old record\'s name: exit 5');
    t.match(clash.stderr, new RegExp(`the name "${old}-state-7" is taken by a state record of pod "${old}", named the way reuseport-pod 0\\.1\\.0 did; run \`reuseport-pod repair ${old}\``), 'names the owner and the fix');
    t.same(await podContainers(`${old}-state`), [], 'nothing of the refused pod is left');
    const r = await cli(['repair', old]);
    t.equal(r.code, 0, `repair exits 0 (${r.stderr.trim()})`);
    t.match(r.stdout, new RegExp(`renamed the state record ${old}-state-7`), 'repair renames the record');
    t.same(await podContainers(old, 'state'), [`${old}-state-g8`], 'one record, new name, next generation');
    const ok = await cli(['create', `${old}-state`, '--port', `127.0.0.1:${await freePort()}:8080`, '-r', '7', ...FAST]);
    t.equal(ok.code, 0, `now the pod can be made (${ok.stderr.trim()})`);
  });

  t.test('5-6. an image that crashes 2 s after it listens', async (t) => {
    // The example server, and PID 1 exits 3 after 2 s (taking the server with it).
    const dockerfile = `FROM ${exampleImage}\nCMD ["node", "-e", "setTimeout(() => process.exit(3), 2000); import('./dist/examples/http-server.js')"]\n`;
    await new Promise<void>((resolve, reject) => {
      const b = spawn('docker', ['build', '-q', '-t', CRASHES, '-'], { env: { ...process.env, DOCKER_BUILDKIT: '0' }, stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      b.stderr.on('data', (d: Buffer) => (err += d.toString()));
      b.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`docker build: ${err}`))));
      b.stdin.end(dockerfile);
    });
    t.teardown(() => dockerRun(['rmi', '-f', CRASHES]).catch(() => undefined));

    t.test('create fails within the --monitor window, and leaves nothing', async (t) => {
      const r = await cli(['create', P.crash, '--image', CRASHES, '--port', `127.0.0.1:${await freePort()}:8080`, '-r', '2', '--monitor', '5']);
      t.equal(r.code, 6, 'exit 6');
      t.match(r.stderr, new RegExp(`replica ${P.crash}-\\d exited with code 3.* within [\\d.]+ s of listening \\(the 5 s --monitor window\\)`), `says which replica, the code and the window: ${r.stderr}`);
      t.match(r.stderr, /Watching .* for 5 s \(--monitor\)/, 'said it was watching');
      t.same(await podContainers(P.crash), [], 'nothing left');
    });

    t.test('a rollout to it fails and rolls back to the image that served', async (t) => {
      const pod = P.back;
      const port = await create(pod, 2);
      const r = await cli(['rollout', pod, '--image', CRASHES, '--monitor', '5']);
      t.equal(r.code, 6, `exit 6 (${r.stderr.trim()})`);
      t.match(r.stderr, new RegExp(`rollout of "${pod}" to ${CRASHES} failed: replica ${pod}-3 exited with code 3`), 'says why');
      t.match(r.stderr, /rolled back: the pod runs reuseport-pod\/example:\S+ again/, 'says it rolled back');
      t.equal((await specOf(pod)).image, exampleImage, 'the pod records the image that serves');
      t.same((await ps(pod)).map((x) => x.image), [exampleImage, exampleImage], 'and runs it');
      t.same([...(await spread(port, 40)).keys()].sort(), [`Hello from ${pod}-1`, `Hello from ${pod}-2`], 'both answer');
    });

    t.test('a crash-looping pod: ls, ps and repair say the same; supervise says it once and leaves it to the engine', async (t) => {
      const pod = P.loop;
      await create(pod, 1, ['--image', CRASHES]);
      await waitFor('two restarts', () => docker('inspect', '--format', '{{.RestartCount}}', `${pod}-1`), (n) => Number(n) >= 2, 30_000);
      t.match(await lsRow(pod), { state: 'crashlooping', ready: 0, desired: 1 }, 'ls: crashlooping, not running');
      const psr = await cli(['ps', pod, '--json']);
      t.equal(JSON.parse(psr.stdout).replicas[0].health, 'crashlooping', 'ps: the replica is crash-looping');
      const human = await cli(['ps', pod]);
      t.match(human.stderr, new RegExp(`${pod}-1 is crash-looping \\(\\d+ restarts`), 'ps says so in words');
      const r = await cli(['repair', pod]);
      t.equal(r.code, 6, 'repair does not call it healthy: exit 6');
      t.match(r.stderr, /crash-looping .* which no repair fixes/, 'and says why');
      t.notMatch(r.stdout, /healthy/);
      const sup = spawn(process.execPath, [cliPath, 'supervise', pod, '--interval', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      sup.stdout.on('data', (d: Buffer) => (out += d.toString()));
      sup.stderr.on('data', (d: Buffer) => (out += d.toString()));
      await sleep(8_000);
      sup.kill('SIGTERM');
      await new Promise((resolve) => sup.on('exit', resolve));
      t.notMatch(out, /repair failed/, `supervise does not fight the restart policy:\n${out}`);
      t.equal(out.split('\n').filter((l) => /is crash-looping/.test(l)).length, 1, 'and says what it sees once');
    });
  });

  t.test('7. repair after a killed scale-down removes the surplus without starting it', async (t) => {
    const pod = P.scale;
    await create(pod, 4);
    const k = await killOnEvent(['scale', pod, '-r', '1'], { type: 'container', action: 'die', name: `${pod}-4` });
    t.ok(k.event, 'the scale-down was killed as its first replica died');
    t.match(await lsRow(pod), { state: 'incomplete', desired: 1 }, 'ls says a command was interrupted, not "1/1 running"');
    const r = await cli(['repair', pod, '--json']);
    t.equal(r.code, 0, `repair exits 0 (${r.stderr.trim()})`);
    const { actions } = JSON.parse(r.stdout) as { actions: string[] };
    t.same(actions.filter((a) => /^(started|restarted)/.test(a)), [], `nothing was started: ${actions.join('; ')}`);
    t.same((await ps(pod)).map((x) => x.name), [`${pod}-1`], 'one replica, as asked');
  });
});
