// Which replicas are really serving, from what the engine reports: pure, no engine.
import t from 'tap';
import { needsRepair, replicaHealth, type Assessment } from '../src/pod/state/health.ts';
import { delayAfter, ReplaceBackoff } from '../src/pod/state/backoff.ts';
import { healthOf } from '../src/runtime/docker-health.ts';
import type { ObservedPod } from '../src/pod/state/observe.ts';
import type { ContainerStatus } from '../src/runtime/runtime.ts';

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

function status(over: Partial<ContainerStatus>): ContainerStatus {
  return {
    id: 'id', name: 'n', image: 'img', labels: {}, state: 'running', status: 'running', created: 0,
    restartCount: 0, pid: 10, networkMode: '', ports: [], sysctls: {}, env: {}, ...over,
  };
}

const sandbox = (over: Partial<ContainerStatus> = {}) => status({ id: 'sb', startedAt: at(10), ...over });
const replica = (over: Partial<ContainerStatus> = {}) => status({ id: 'r1', networkMode: 'container:sb', startedAt: at(20), ...over });

t.test('without namespace identities: the start-time rule', async (t) => {
  t.equal(replicaHealth(replica(), sandbox()), 'ok', 'started after the sandbox');
  t.equal(replicaHealth(replica({ startedAt: at(5) }), sandbox()), 'stranded', 'started before the sandbox restarted');
  t.equal(replicaHealth(replica({ state: 'exited' }), sandbox()), 'down');
  t.equal(replicaHealth(replica({ networkMode: 'container:old' }), sandbox()), 'orphaned', 'joined a sandbox that was re-created');
  t.equal(replicaHealth(replica(), undefined), 'orphaned', 'no sandbox at all');
  t.equal(replicaHealth(replica(), sandbox({ state: 'exited' })), 'stranded', 'the sandbox is not running');
});

t.test('with namespace identities: they decide', async (t) => {
  // Podman keeps the namespace when a crashed sandbox restarts: the replica started earlier, yet serves.
  t.equal(replicaHealth(replica({ startedAt: at(5), netns: 'net:[1]' }), sandbox({ netns: 'net:[1]' })), 'ok', 'same namespace, older start');
  // Docker gives the restarted sandbox a new namespace.
  t.equal(replicaHealth(replica({ startedAt: at(5), netns: 'net:[1]' }), sandbox({ netns: 'net:[2]' })), 'stranded', 'other namespace');
  t.equal(replicaHealth(replica({ netns: 'net:[1]' }), sandbox({ netns: 'net:[2]' })), 'stranded', 'other namespace, even when started later');
  t.equal(replicaHealth(replica({ startedAt: at(5), netns: 'net:[1]' }), sandbox()), 'stranded', 'only one side known: the start-time rule');
  t.equal(replicaHealth(replica({ networkMode: 'container:old', netns: 'net:[1]' }), sandbox({ netns: 'net:[1]' })), 'orphaned', 'NetworkMode still rules out a re-created sandbox');
});

t.test('a DNAT replica has its own namespace: only running counts', async (t) => {
  t.equal(replicaHealth(status({ networkMode: 'rp-net', startedAt: at(5), netns: 'net:[9]' }), sandbox({ netns: 'net:[1]' }), true), 'ok');
  t.equal(replicaHealth(status({ networkMode: 'rp-net', state: 'exited' }), sandbox(), true), 'down');
});

t.test("a replica's health check: unhealthy only where it runs as it should", async (t) => {
  const sick = { health: { status: 'unhealthy' as const, failingStreak: 3 } };
  t.equal(replicaHealth(replica(sick), sandbox()), 'unhealthy');
  t.equal(replicaHealth(replica({ health: { status: 'starting', failingStreak: 1 } }), sandbox()), 'ok', 'starting is not unhealthy');
  t.equal(replicaHealth(replica({ ...sick, startedAt: at(5) }), sandbox()), 'stranded', 'a stranded replica fails its check for want of a network: restart it, do not replace it');
  t.equal(replicaHealth(status({ ...sick, networkMode: 'rp-net' }), sandbox(), true), 'unhealthy', 'DNAT replicas too');
});

t.test('needsRepair: an unhealthy replica, unless supervise is backing off', async (t) => {
  const pod = { name: 'p', desired: 1, replicas: [{ n: 1 }], records: [] } as unknown as ObservedPod;
  const a = (health: 'ok' | 'unhealthy'): Assessment => ({ sandbox: sandbox(), replicas: [{ n: 1, status: replica(), health }] });
  t.equal(needsRepair(pod, a('ok')), false);
  t.equal(needsRepair(pod, a('unhealthy')), true);
  t.equal(needsRepair(pod, a('unhealthy'), { replaceUnhealthy: false }), false);
});

t.test("the engine's State.Health", async (t) => {
  t.equal(healthOf(undefined, 'docker'), undefined, 'no check');
  t.equal(healthOf({ Status: 'none' }, 'docker'), undefined, "Docker's none");
  t.equal(healthOf({ Status: '' }, 'podman'), undefined, "Podman's empty status");
  t.same(healthOf({ Status: 'starting', FailingStreak: 0, Log: [] }, 'docker'), { status: 'starting', failingStreak: 0 }, 'Docker before its first interval: starting');
  t.equal(healthOf({ Status: 'starting', FailingStreak: 0, Log: null }, 'podman'), undefined, 'Podman that has run no check (no systemd timers): treated as no check');
  t.same(
    healthOf({ Status: 'unhealthy', FailingStreak: 2, Log: [{ ExitCode: 1, Output: 'old' }, { ExitCode: 1, Output: 'db down\n' }] }, 'podman'),
    { status: 'unhealthy', failingStreak: 2, lastOutput: 'db down', lastExitCode: 1 },
    "the last check's output and code",
  );
});

t.test("supervise's back-off between replacements of a pod's unhealthy replicas", async (t) => {
  const timing = { baseMs: 1000, capMs: 8000 };
  t.same([0, 1, 2, 3, 4, 5, 40].map((n) => delayAfter(n, timing)), [0, 1000, 2000, 4000, 8000, 8000, 8000], 'doubling from the interval, capped');
  const b = new ReplaceBackoff();
  t.equal(b.waitFor('web', timing, 0), 0, 'the first replacement at once');
  b.replaced('web', 0);
  t.equal(b.waitFor('web', timing, 400), 600, 'then the interval');
  t.equal(b.waitFor('api', timing, 400), 0, 'per pod');
  b.replaced('web', 1000);
  t.equal(b.waitFor('web', timing, 1000), 2000, 'then twice that');
  b.healthy('web', timing, 5000);
  t.equal(b.waitFor('web', timing, 5000), 0, 'the wait may be over while the streak goes on');
  b.replaced('web', 5000);
  t.equal(b.waitFor('web', timing, 5000), 4000, 'a replacement healthy for a moment: the same streak');
  b.healthy('web', timing, 13_000);
  t.equal(b.waitFor('web', timing, 13_000), 0);
  b.replaced('web', 13_000);
  t.equal(b.waitFor('web', timing, 13_000), 1000, 'healthy for as long as the cap: a new streak');
});
