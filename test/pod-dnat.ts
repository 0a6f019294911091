// The DNAT mode's pure parts, no engine: the rule set, reading it back, the mode in the spec.
import t from 'tap';
import { backendsOf, dnatRuntime, natRuleSet } from '../src/pod/modes/dnat.ts';
import { ExitCode, PodError } from '../src/errors.ts';
import { readStoredSpec, LABEL, storedSpec } from '../src/pod/model/names.ts';
import { parseMode } from '../src/pod/model/spec.ts';
import type { Runtime } from '../src/runtime/runtime.ts';

const spec = { image: 'x', ports: [{ hostPort: 80, containerPort: 8080 }], env: {}, stopTimeout: 10, mode: 'dnat' as const };
const backends = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `web-${i + 1}`, address: `10.0.0.${i + 2}` }));

t.test('rule set: one transaction replacing the pod chains, kube-proxy probabilities', async (t) => {
  const rules = natRuleSet(spec, backends(4)).split('\n');
  t.same(rules.slice(0, 3), ['*nat', ':RPOD-DNAT - [0:0]', ':RPOD-MASQ - [0:0]'], 'declares (and so flushes) only its own chains');
  t.equal(rules.at(-1), 'COMMIT', 'one COMMIT');
  const odds = rules.filter((l) => l.startsWith('-A RPOD-DNAT')).map((l) => /--probability (\S+)/.exec(l)?.[1] ?? 'rest');
  t.same(odds, ['0.2500000000', '0.3333333333', '0.5000000000', 'rest'], '1/4, 1/3, 1/2, then the rest');
  // P(backend i) = prod_{j<i}(1 - p_j) * p_i = 1/4 for each.
  let left = 1;
  for (const p of odds.map((o) => (o === 'rest' ? 1 : Number(o)))) {
    t.ok(Math.abs(left * p - 0.25) < 1e-9, `a backend gets ${(left * p).toFixed(4)} of the connections`);
    left *= 1 - p;
  }
  t.equal(rules.filter((l) => /^-A RPOD-MASQ -d 10\.0\.0\.\d\/32 -p tcp -m tcp --dport 8080 -j MASQUERADE$/.test(l)).length, 4, 'masquerade toward each backend');
  t.notMatch(natRuleSet(spec, backends(1)), /statistic/, 'one backend: no statistic match');
  t.same(natRuleSet(spec, []).split('\n'), ['*nat', ':RPOD-DNAT - [0:0]', ':RPOD-MASQ - [0:0]', 'COMMIT'], 'no backend: empty chains');
});

t.test('backends read back from iptables-save lines', async (t) => {
  const saved = [
    '-A PREROUTING -j RPOD-DNAT',
    '-A RPOD-DNAT -p tcp -m tcp --dport 8080 -m statistic --mode random --probability 0.50000000000 -m comment --comment web-1 -j DNAT --to-destination 10.0.0.2:8080',
    '-A RPOD-DNAT -p tcp -m tcp --dport 8080 -m comment --comment web-2 -j DNAT --to-destination 10.0.0.3:8080',
    '-A RPOD-MASQ -d 10.0.0.2/32 -p tcp -m tcp --dport 8080 -j MASQUERADE',
  ];
  t.same(backendsOf(saved), backends(2));
  t.same(backendsOf([]), []);
});

t.test('the mode: parsed, stored only when not the default, read back', async (t) => {
  t.equal(parseMode(undefined), 'reuseport');
  t.equal(parseMode('dnat'), 'dnat');
  t.throws(() => parseMode('nat'), { constructor: PodError, exitCode: ExitCode.usage, message: /--mode "nat" is not a mode; use reuseport or dnat/ });
  const pod = { name: 'web', replicas: 1, ...spec };
  t.equal(readStoredSpec({ [LABEL.spec]: JSON.stringify(storedSpec(pod)) })?.mode, 'dnat');
  const plain = storedSpec({ ...pod, mode: 'reuseport' });
  t.notOk('mode' in plain, 'reuseport pods keep the labels they always had');
  t.equal(readStoredSpec({ [LABEL.spec]: JSON.stringify(plain) })?.mode, undefined);
});

t.test('an engine without networks or helpers says --mode dnat needs a container engine', async (t) => {
  const bare = {} as Runtime;
  t.throws(() => dnatRuntime(bare), { constructor: PodError, exitCode: ExitCode.usage, message: /--mode dnat needs a container engine/ });
});
