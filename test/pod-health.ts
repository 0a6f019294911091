// Which replicas are really serving, from what the engine reports: pure, no engine.
import t from 'tap';
import { replicaHealth } from '../src/pod/state/health.ts';
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
