// A pod's network mode as a value: the one switch (modes/index.ts) and what each mode answers.
// Pure: no engine.
import t from 'tap';
import { readStoredSpec, storedSpec, LABEL } from '../src/pod/model/names.ts';
import { parseMode } from '../src/pod/model/spec.ts';
import { modeOf } from '../src/pod/modes/index.ts';
import { replicaConfig } from '../src/pod/ops/replicas.ts';

const base = { name: 'web', image: 'app:1', ports: [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 8080 }], replicas: 2, env: {}, stopTimeout: 10 };

t.test('one mode object per mode; no mode is reuseport', async (t) => {
  t.equal(modeOf(undefined).name, 'reuseport');
  t.equal(modeOf({}).name, 'reuseport');
  for (const m of ['reuseport', 'dnat', 'host'] as const) t.equal(modeOf({ mode: parseMode(m) }).name, m);
  t.throws(() => parseMode('bridge'), { message: /--mode "bridge" is not a mode; use reuseport or dnat, or host/ });
});

t.test('where the sandbox and the replicas live', async (t) => {
  const [rp, dn, host] = (['reuseport', 'dnat', 'host'] as const).map((mode) => modeOf({ mode }));
  t.same([rp!.sandboxNamespace('web'), dn!.sandboxNamespace('web'), host!.sandboxNamespace('web')], [undefined, { kind: 'network', name: 'web-net' }, { kind: 'host' }]);
  t.same([rp!.replicaNamespace('web'), dn!.replicaNamespace('web'), host!.replicaNamespace('web')], [{ kind: 'pod' }, { kind: 'network', name: 'web-net' }, { kind: 'host' }]);
  t.same([rp!.publishes, dn!.publishes, host!.publishes], [true, true, false], 'only the host mode publishes nothing');
  t.same(rp!.sandboxSysctls, { 'net.ipv4.tcp_migrate_req': '1' });
  t.same(dn!.sandboxSysctls, { 'net.ipv4.tcp_migrate_req': '1', 'net.ipv4.ip_forward': '1' });
  t.same(host!.sandboxSysctls, {}, 'Docker rejects net.* sysctls with --network host');
  t.same([rp!.ownNamespaces, dn!.ownNamespaces, host!.ownNamespaces], [false, true, true], 'only reuseport replicas can be stranded by a sandbox restart');
});

t.test('a host-mode replica gets HOST for a port on one address; the others keep the sandbox doing it', async (t) => {
  const host = replicaConfig('web', 1, storedSpec({ ...base, mode: 'host' }), 'v');
  t.same(host.namespace, { kind: 'host' });
  t.equal(host.env['HOST'], '127.0.0.1');
  const rp = replicaConfig('web', 1, storedSpec(base), 'v');
  t.equal(rp.namespace, undefined, 'the sandbox\'s namespace (the default)');
  t.equal(rp.env['HOST'], undefined);
  t.equal(replicaConfig('web', 1, storedSpec({ ...base, mode: 'host', env: { HOST: '0.0.0.0' } }), 'v').env['HOST'], '0.0.0.0', 'a HOST the user gave wins');
});

t.test('the mode is recorded only when it is not the default, and read back', async (t) => {
  t.equal(storedSpec(base).mode, undefined, 'reuseport pods read as they always did');
  const host = storedSpec({ ...base, mode: 'host' });
  t.equal(readStoredSpec({ [LABEL.spec]: JSON.stringify(host) })?.mode, 'host');
  t.equal(readStoredSpec({ [LABEL.spec]: JSON.stringify({ ...host, mode: 'bogus' }) })?.mode, undefined, 'an unknown mode reads as the default');
});
