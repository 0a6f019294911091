// Two writers at once. The pod's lock (`<pod>-lock`, a never-started container: Docker refuses a
// second one of the same name) makes them take turns:
//   - two `create` of one pod at once: exactly one pod, one exit 0, the other exit 5 "already
//     exists", and no orphans (the sandbox, the replicas, one state record; no lock);
//   - two `scale` at once (to 2 and to 4): both succeed, one after the other, and the pod ends at
//     one of the two counts, with the recorded desired count equal to the replicas that run.
// The lock's rare interleavings are unit-tested in test/pod-lock.ts.
import t from 'tap';
import { cli, forceRemovePod, ownPods, podContainers, requireEngine, spread, type CliResult } from './helpers/cli.ts';
import { docker, ensureImages } from './helpers/docker.ts';
import { freePort } from './helpers/http-client.ts';
import { LABEL } from '../src/pod/model/names.ts';

const PODS = { create: 'e2e-conc-a', scale: 'e2e-conc-b' };
const ROUNDS = 3;

const hellos = (pod: string, ns: number[]) => ns.map((n) => `Hello from ${pod}-${n}`);
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

async function desiredOf(pod: string): Promise<{ records: string[]; replicas: number[] }> {
  const records = await podContainers(pod, 'state');
  const replicas = await Promise.all(records.map(async (r) => Number(await docker('inspect', '-f', `{{index .Config.Labels "${LABEL.replicas}"}}`, r))));
  return { records, replicas };
}

t.test('two writers at once, real engine', async (t) => {
  if (!(await requireEngine(t))) return;
  await ensureImages('pause', 'node-base', 'example');
  await ownPods(t, Object.values(PODS));

  t.test(`two \`create\` of one pod at once (${ROUNDS} rounds): one pod, the other exits 5, no orphans`, async (t) => {
    const pod = PODS.create;
    for (let round = 1; round <= ROUNDS; round++) {
      await forceRemovePod(pod);
      const port = await freePort();
      const args = ['create', pod, '--port', `127.0.0.1:${port}:8080`, '--replicas', '2'];
      const results: CliResult[] = await Promise.all([cli(args), cli(args)]);
      const codes = results.map((r) => r.code);
      t.same([...codes].sort(), [0, 5], `round ${round}: one exits 0, the other 5 (got ${codes.join(', ')})`);
      const loser = results.find((r) => r.code !== 0);
      const lastLine = loser?.stderr.trim().split('\n').at(-1) ?? '';
      t.match(lastLine, new RegExp(`^reuseport-pod: pod "${pod}" already exists`), `round ${round}: the other says the pod already exists: ${lastLine}`);
      t.same(await podContainers(pod), [`${pod}-1`, `${pod}-2`, `${pod}-sandbox`, `${pod}-state-g1`], `round ${round}: exactly one pod: sandbox, 2 replicas, one state record, no lock`);
      const answers = await spread(port, 40);
      t.same([...answers.keys()].sort(), hellos(pod, [1, 2]), `round ${round}: both replicas answer`);
    }
  });

  t.test(`two \`scale\` at once, to 2 and to 4 (${ROUNDS} rounds): the pod converges on one of them`, async (t) => {
    const pod = PODS.scale;
    const port = await freePort();
    const created = await cli(['create', pod, '--port', `127.0.0.1:${port}:8080`, '--replicas', '3', '--quiet']);
    t.equal(created.code, 0, `create exits 0 (${created.stderr.trim()})`);
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternate who is spawned first.
      const asks = round % 2 ? [2, 4] : [4, 2];
      const results = await Promise.all(asks.map((n) => cli(['scale', pod, '--replicas', String(n), '--json'])));
      results.forEach((r, i) => t.equal(r.code, 0, `round ${round}: scale to ${asks[i]} exits 0${r.code ? ` (stderr: ${r.stderr.trim()})` : ''}`));
      const replicas = await podContainers(pod, 'replica');
      const { records, replicas: desired } = await desiredOf(pod);
      t.equal(records.length, 1, `round ${round}: one state record (${records.join(', ')})`);
      t.ok([2, 4].includes(replicas.length), `round ${round}: ${replicas.length} replicas, one of the asked counts`);
      t.same(desired, [replicas.length], `round ${round}: the recorded desired count (${desired.join(',')}) is what runs`);
      t.same(replicas, range(replicas.length).map((n) => `${pod}-${n}`).sort(), `round ${round}: replicas 1..${replicas.length}, no gaps`);
      t.same(await podContainers(pod, 'lock'), [], `round ${round}: no lock left`);
      const ls = (JSON.parse((await cli(['ls', '--json'])).stdout) as Array<{ name: string; ready: number; desired: number }>).find((p) => p.name === pod);
      t.match(ls, { ready: replicas.length, desired: replicas.length }, `round ${round}: ls agrees`);
      const answers = await spread(port, 20 * replicas.length);
      t.same([...answers.keys()].sort(), hellos(pod, range(replicas.length)).sort(), `round ${round}: every replica answers`);
      // Back to 3 so that the next round changes something in both directions.
      const reset = await cli(['scale', pod, '--replicas', '3']);
      t.equal(reset.code, 0, `round ${round}: back to 3`);
    }
  });

  t.test('six `scale`s at once (2 rounds): they queue on the lock, every one succeeds', async (t) => {
    // More waiters make it likely that one looks at the lock just as its holder releases it.
    const pod = PODS.scale;
    const asks = [1, 2, 3, 1, 2, 3];
    for (let round = 1; round <= 2; round++) {
      const results = await Promise.all(asks.map((n) => cli(['scale', pod, '--replicas', String(n), '--quiet'])));
      const failed = results.map((r, i) => (r.code === 0 ? '' : `scale to ${asks[i]}: exit ${r.code}: ${r.stderr.trim().split('\n').at(-1)}`)).filter(Boolean);
      t.same(failed, [], `round ${round}: all six exit 0`);
      const replicas = await podContainers(pod, 'replica');
      const { replicas: desired } = await desiredOf(pod);
      t.ok([1, 2, 3].includes(replicas.length), `round ${round}: ${replicas.length} replicas, one of the asked counts`);
      t.same(desired, [replicas.length], `round ${round}: the recorded desired count is what runs`);
      t.same(await podContainers(pod, 'lock'), [], `round ${round}: no lock left`);
    }
  });
});
