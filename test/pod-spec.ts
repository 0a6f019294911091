// Parsing and planning: pure functions, no engine.
import t from 'tap';
import { PodError, ExitCode } from '../src/errors.ts';
import { planScale } from '../src/pod/model/plan.ts';
import { formatPort, parseEnv, parsePodName, parsePortSpec, parsePortSpecs, parseReplicas } from '../src/pod/model/spec.ts';

const usage = { constructor: PodError, exitCode: ExitCode.usage };

t.test('port specs', async (t) => {
  t.same(parsePortSpec('80:8080'), { hostPort: 80, containerPort: 8080 });
  t.same(parsePortSpec('127.0.0.1:18080:8080'), { hostIp: '127.0.0.1', hostPort: 18080, containerPort: 8080 });
  t.same(parsePortSpec('[::1]:80:8080'), { hostIp: '::1', hostPort: 80, containerPort: 8080 });
  t.equal(formatPort(parsePortSpec('[::1]:80:8080')), '[::1]:80:8080');
  t.equal(formatPort(parsePortSpec('0.0.0.0:80:8080')), '0.0.0.0:80:8080');
  const bad: Array<[string, RegExp]> = [
    ['80', /not a port mapping/],
    ['80:', /lacks the container port/],
    [':8080', /lacks the host port/],
    ['0:8080', /host port 0 is out of range/],
    ['70000:8080', /host port 70000 is out of range/],
    ['80:0', /container port 0 is out of range/],
    ['a:b', /host port "a" is not a number/],
    ['1.2.3:80:8080', /not an IPv4 address/],
    ['::1:80:8080', /not a port mapping/],
    ['[1.2.3.4]:80:8080', /not an IPv6 address/],
    ['80:8080:9090:1', /not a port mapping/],
  ];
  for (const [spec, message] of bad) t.throws(() => parsePortSpec(spec), { ...usage, message }, spec);
  t.throws(() => parsePortSpecs(['80:8080', '80:9090']), { ...usage, message: /host port 80 again/ });
  t.throws(() => parsePortSpecs(['127.0.0.1:80:8080', '80:9090']), { ...usage, message: /host port 80 again/ });
  t.same(parsePortSpecs(['127.0.0.1:80:8080', '127.0.0.2:80:8080']).length, 2, 'one port on two addresses is fine');
  t.throws(() => parsePortSpecs([]), { ...usage, message: /at least one --port/ });
});

t.test('pod names', async (t) => {
  for (const ok of ['web', 'web-2', 'a', 'api_v1.prod']) t.equal(parsePodName(ok), ok);
  for (const bad of ['', 'Web', '-web', '.web', 'web/1', 'web 1', 'wéb', 'x'.repeat(51)]) t.throws(() => parsePodName(bad), usage, JSON.stringify(bad));
});

t.test('replicas', async (t) => {
  t.equal(parseReplicas('1'), 1);
  t.equal(parseReplicas('100'), 100);
  for (const bad of ['0', '-1', '1.5', 'abc', '1000', '', ' ']) t.throws(() => parseReplicas(bad), usage, JSON.stringify(bad));
});

t.test('env', async (t) => {
  t.same(parseEnv(['A=1', 'B=x=y', 'C=']), { A: '1', B: 'x=y', C: '' });
  t.throws(() => parseEnv(['A']), { ...usage, message: /has no value/ });
  t.throws(() => parseEnv(['1A=2']), { ...usage, message: /not a variable name/ });
  t.throws(() => parseEnv(['PORT=1']), { ...usage, message: /set by reuseport-pod/ });
  t.throws(() => parseEnv(['INSTANCE=x']), { ...usage, message: /set by reuseport-pod/ });
});

t.test('scale plans: lowest free numbers added, highest removed', async (t) => {
  t.same(planScale([], 3), { add: [1, 2, 3], remove: [] });
  t.same(planScale([1, 2, 3], 5), { add: [4, 5], remove: [] });
  t.same(planScale([1, 3], 4), { add: [2, 4], remove: [] });
  t.same(planScale([1, 2, 3, 4, 5], 1), { add: [], remove: [5, 4, 3, 2] });
  t.same(planScale([2, 5, 7], 2), { add: [], remove: [7] });
  t.same(planScale([1, 2], 2), { add: [], remove: [] });
});
