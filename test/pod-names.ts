// The names of a pod's objects never collide with another pod's: checked over pod names built to
// collide (one pod's name is another's plus the start of one of its suffixes).
import t from 'tap';
import { isLegacyStateName, lockName, natHelperName, networkName, podOfReplica, replicaName, sandboxName, stateName } from '../src/pod/model/names.ts';
import { MAX_REPLICAS, parsePodName } from '../src/pod/model/spec.ts';

type Namer = (pod: string) => string[];

const objects: Namer = (pod) => [
  ...Array.from({ length: MAX_REPLICAS }, (_, i) => replicaName(pod, i + 1)),
  sandboxName(pod),
  lockName(pod),
  networkName(pod),
  ...[1, 2, 3, 10, 11, 100].map((g) => stateName(pod, g)),
  ...['a1b2c3', '123456', '000001', '100000'].map((tag) => natHelperName(pod, tag)),
];

// Releases up to 0.1.0: state records were `<pod>-state-<n>`.
const legacyObjects: Namer = (pod) => [...objects(pod).filter((n) => !n.includes('-state-g')), ...[1, 2, 3].map((g) => `${pod}-state-${g}`)];

const bases = ['web', 'a', 'web-1', 'api_v1', 'x.y'];
const pieces = ['-state', '-state-g', '-state-g1', '-nat', '-nat-1', '-sandbox', '-lock', '-net', '-1', '-10', '-g1', '-state-1'];
const podNames = [...new Set(bases.flatMap((b) => [b, ...pieces.map((p) => b + p), ...pieces.flatMap((p) => pieces.map((q) => b + p + q))]))];

function collisions(names: string[], namer: Namer): string[] {
  const owner = new Map<string, string>();
  const found: string[] = [];
  for (const pod of names) {
    for (const object of namer(pod)) {
      const other = owner.get(object);
      if (other !== undefined && other !== pod) found.push(`${object}: ${other} and ${pod}`);
      else owner.set(object, pod);
    }
  }
  return found;
}

t.test('every pod name built to collide is a valid pod name', async (t) => {
  for (const pod of podNames) t.equal(parsePodName(pod), pod);
  t.ok(podNames.length > 700, `${podNames.length} pod names`);
});

t.test('no two pods share an object name', async (t) => {
  t.same(collisions(podNames, objects), []);
});

t.test('the old state-record names did collide (what the check is for)', async (t) => {
  t.ok(collisions(podNames, legacyObjects).includes('web-state-1: web and web-state'), 'web-state-1 was both a record of web and replica 1 of web-state');
});

t.test('a replica name leads back to its pod; no other object is named like a replica', async (t) => {
  const replicaLike = (name: string): boolean => {
    const m = /-([1-9]\d*)$/.exec(name);
    return m !== null && Number(m[1]) <= MAX_REPLICAS;
  };
  for (const pod of ['web', 'web-state', 'web-1']) {
    t.equal(podOfReplica(replicaName(pod, 7)), pod);
    t.same(objects(pod).filter(replicaLike), Array.from({ length: MAX_REPLICAS }, (_, i) => replicaName(pod, i + 1)), `${pod}: only the replicas`);
  }
});

t.test('old state-record names are recognised, new ones and replicas are not', async (t) => {
  t.ok(isLegacyStateName('web', 'web-state-1'));
  t.ok(isLegacyStateName('web', '/web-state-12'), 'with the engine\'s leading slash');
  t.notOk(isLegacyStateName('web', stateName('web', 1)));
  t.notOk(isLegacyStateName('web', 'web-1'));
  t.notOk(isLegacyStateName('web', 'webx-state-1'));
  t.notOk(isLegacyStateName('web-state', 'web-state-1'), 'replica 1 of web-state is not a record of web-state');
});
