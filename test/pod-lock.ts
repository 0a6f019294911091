// The pod lock's own logic (src/pod/state/lock.ts), in the interleavings that real processes hit only
// rarely: a holder releasing the lock between a waiter's 409 and its look at the lock, a name taken
// by a foreign container, a lock this very process left behind. A unit test: the engine here is a
// script of answers to the four calls lock.ts makes; the end-to-end behaviour (two creates, two
// scales at once on a real dockerd) is in test/e2e-concurrency.ts.
import { hostname } from 'node:os';
import t from 'tap';
import type { PodContext } from '../src/pod/context.ts';
import { withPodLock } from '../src/pod/state/lock.ts';
import { LABEL } from '../src/pod/model/names.ts';
import type { ContainerSummary, Runtime } from '../src/runtime/runtime.ts';

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
    await t.rejects(withPodLock(ctx, 'p', { image: 'x', waitMs: 5_000 }, async () => 'ran'), { message: /a container named "p-lock" already exists and was not made by reuseport-pod/ });
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
