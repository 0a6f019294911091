// Two writers at once. The pod's lock (`<pod>-lock`, a never-started container: Docker refuses a
// second one of the same name) makes them take turns:
//   - two `create` of one pod at once: exactly one pod, one exit 0, the other exit 5 "already
//     exists", and no orphans (the sandbox, the replicas, one state record; no lock);
//   - two `scale` at once (to 2 and to 4): both succeed, one after the other, and the pod ends at
//     one of the two counts, with the recorded desired count equal to the replicas that run.
// Plus the lock's own logic against a scripted engine, for the interleavings that real processes
// hit only rarely (a holder releasing the lock between a waiter's 409 and its look at the lock).
import { hostname } from 'node:os';
import t from 'tap';
import { cli, forceRemovePod, podContainers, requireEngine, spread, type CliResult } from './helpers/cli.ts';
import { docker, ensureImages } from './helpers/docker.ts';
import { freePort } from './helpers/http-client.ts';
import type { PodContext } from '../src/pod/context.ts';
import { withPodLock } from '../src/pod/lock.ts';
import { LABEL } from '../src/pod/names.ts';
import type { ContainerSummary, Runtime } from '../src/runtime/runtime.ts';

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
  const removeAll = async () => {
    for (const pod of Object.values(PODS)) await forceRemovePod(pod);
  };
  await removeAll();
  t.teardown(removeAll);

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
      t.same(await podContainers(pod), [`${pod}-1`, `${pod}-2`, `${pod}-sandbox`, `${pod}-state-1`], `round ${round}: exactly one pod: sandbox, 2 replicas, one state record, no lock`);
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

// The lock against a scripted engine: only what lock.ts calls is implemented.
// `named`: what a look at the container by the lock's name finds when no lock is listed ('gone':
// the holder just released it; 'foreign': a container without our labels holds the name).
// `leftover`: a lock container that stays (create conflicts, list shows it) until it is removed.
function scriptedEngine(script: { create: Array<'conflict' | 'ok'>; locks: ContainerSummary[][]; named?: 'gone' | 'foreign'; leftover?: ContainerSummary }) {
  const calls: string[] = [];
  let creates = 0;
  let lists = 0;
  let leftover = script.leftover;
  const runtime = {
    endpoint: 'scripted',
    async createMarker(config: { name: string }) {
      const step = leftover ? 'conflict' : script.create[Math.min(creates++, script.create.length - 1)];
      calls.push(`create ${config.name}: ${step}`);
      if (step === 'conflict') throw Object.assign(new Error(`creating ${config.name}: Conflict. The container name is already in use`), { cause: { statusCode: 409 } });
      return `lock-${creates}`;
    },
    async listContainers() {
      if (leftover) {
        calls.push('list locks: 1 (the leftover)');
        return [leftover];
      }
      const seen = script.locks[Math.min(lists++, script.locks.length - 1)] ?? [];
      calls.push(`list locks: ${seen.length}`);
      return seen;
    },
    async containerStatus(idOrName: string) {
      calls.push(`status ${idOrName}: ${script.named ?? 'gone'}`);
      if (script.named === 'foreign') return { id: 'foreign', name: idOrName, image: 'busybox', state: 'running', labels: {} };
      throw Object.assign(new Error(`no such container: ${idOrName}`), { cause: { statusCode: 404 } });
    },
    async removeContainer(id: string) {
      calls.push(`remove ${id}`);
      if (leftover && id === leftover.id) leftover = undefined;
    },
  } as unknown as Runtime;
  const ctx: PodContext = { runtime, version: 'test', progress: () => undefined, warn: () => undefined };
  return { ctx, calls };
}

const heldBy = (pid: number): ContainerSummary => ({
  id: 'held',
  name: 'p-lock',
  image: 'x',
  state: 'created',
  status: 'Created',
  created: 0,
  labels: { [LABEL.pod]: 'p', [LABEL.role]: 'lock', [LABEL.holder]: `another-host:${pid}`, [LABEL.since]: new Date().toISOString() },
});

t.test('the lock, interleavings that real processes hit rarely (scripted engine)', async (t) => {
  t.test('a waiter whose holder releases the lock between the 409 and its look at the lock takes the lock', async (t) => {
    // 409 (held) -> list: held -> 409 again -> list: gone (released just now) -> create succeeds.
    const { ctx, calls } = scriptedEngine({ create: ['conflict', 'conflict', 'ok'], locks: [[heldBy(1)], []], named: 'gone' });
    const result = await withPodLock(ctx, 'p', { image: 'x', waitMs: 5_000 }, async () => 'ran').catch((err: Error) => `rejected: ${err.message}`);
    t.equal(result, 'ran', `the waiter gets the lock and runs (engine calls: ${calls.join(' | ')})`);
  });

  t.test('a name held by a container that is not our lock is reported, not waited on forever', async (t) => {
    const { ctx } = scriptedEngine({ create: ['conflict'], locks: [[]], named: 'foreign' });
    const started = Date.now();
    await t.rejects(withPodLock(ctx, 'p', { image: 'x', waitMs: 5_000 }, async () => 'ran'), { message: /a container named "p-lock" exists and was not made by reuseport-pod/ });
    t.ok(Date.now() - started < 10_000, 'within the wait bound');
  });

  t.test('a lock this very process left behind (its release never reached the engine) does not block it', async (t) => {
    // The supervisor is one long-lived process. Measured across dockerd restarts: a repair it began
    // while dockerd was shutting down created the lock, the engine went away, the release failed;
    // after the restart every repair of that pod failed "busy: another reuseport-pod (host:<its own
    // pid>) has held its lock" — for 15 minutes, until the age limit. A lock naming this process
    // that this process does not hold right now can only be such a leftover.
    const mine = { ...heldBy(process.pid), id: 'mine', labels: { ...heldBy(process.pid).labels, [LABEL.holder]: `${hostname()}:${process.pid}` } };
    const { ctx, calls } = scriptedEngine({ create: ['ok'], locks: [[]], leftover: mine });
    const started = Date.now();
    const result = await withPodLock(ctx, 'p', { image: 'x', waitMs: 3_000 }, async () => 'ran').catch((err: Error) => `rejected: ${err.message}`);
    t.equal(result, 'ran', `the leftover is broken and the lock taken (engine calls: ${calls.slice(0, 6).join(' | ')}${calls.length > 6 ? ' | ...' : ''})`);
    t.ok(Date.now() - started < 2_000, `without waiting out the bound (${Date.now() - started} ms)`);
  });

  t.test('a lock held by a live holder is waited for, then taken', async (t) => {
    const { ctx, calls } = scriptedEngine({ create: ['conflict', 'conflict', 'ok'], locks: [[heldBy(1)], [heldBy(1)]] });
    t.equal(await withPodLock(ctx, 'p', { image: 'x', waitMs: 5_000 }, async () => 'ran'), 'ran');
    t.match(calls.at(-1), /^remove lock-/, 'and released afterwards');
  });
});
