// The replica options' parsers, with docker's syntax and docker's rules, and what the spec keeps of
// them: every bad input is a usage error (exit 2) saying what to write instead.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { ExitCode, PodError } from '../src/errors.ts';
import {
  compactOptions,
  parseAddHosts,
  parseBytes,
  parseCapabilities,
  parseCpus,
  parseDuration,
  parseHealth,
  parseLabels,
  parseMemory,
  parseMount,
  parseNetworks,
  parsePidsLimit,
  parseNetworkAliases,
  parseStopSignal,
  parseTmpfs,
  parseVolume,
  readEnvFiles,
} from '../src/pod/model/options.ts';
import { readStoredSpec, specHash, storedSpec, LABEL } from '../src/pod/model/names.ts';
import { containerOptions, namespaceOptions } from '../src/pod/ops/container-options.ts';

const dir = mkdtempSync(join(tmpdir(), 'pod-options-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function usage(t: Tap.Test, fn: () => unknown, message: RegExp, what: string): void {
  try {
    fn();
    t.fail(`${what}: accepted`);
  } catch (err) {
    t.ok(err instanceof PodError && err.exitCode === ExitCode.usage, `${what}: a usage error`);
    t.match((err as Error).message, message, `${what}: ${(err as Error).message}`);
  }
}

t.test('env files: docker format, in order, bare keys from the CLI', async (t) => {
  const a = join(dir, 'a.env');
  const b = join(dir, 'b.env');
  writeFileSync(a, '# comment\n\n  INDENTED=yes\nQUOTED="kept as is"\nEQ=a=b=c\nEMPTY=\nBARE\nMISSING_BARE\nSHARED=from-a\r\nWIN=crlf\r\n');
  writeFileSync(b, 'SHARED=from-b\n');
  t.same(readEnvFiles([a, b], { BARE: 'from-cli' }), {
    INDENTED: 'yes',
    QUOTED: '"kept as is"',
    EQ: 'a=b=c',
    EMPTY: '',
    BARE: 'from-cli',
    SHARED: 'from-b',
    WIN: 'crlf',
  });
  writeFileSync(join(dir, 'bad.env'), 'OK=1\n\nHAS SPACE=2\n');
  usage(t, () => readEnvFiles([join(dir, 'bad.env')]), /bad\.env" line 3: "HAS SPACE" is not a variable name/, 'a bad line');
  writeFileSync(join(dir, 'reserved.env'), 'PORT=80\n');
  usage(t, () => readEnvFiles([join(dir, 'reserved.env')]), /line 1: PORT is set by reuseport-pod for each replica/, 'a reserved name');
  usage(t, () => readEnvFiles([join(dir, 'none.env')]), /does not exist/, 'a missing file');
  usage(t, () => readEnvFiles([dir]), /is a folder/, 'a folder');
});

t.test('-v: binds made absolute, volumes by name, docker refusals', async (t) => {
  writeFileSync(join(dir, 'conf.yml'), 'x: 1\n');
  t.equal(parseVolume(`${dir}/conf.yml:/app/conf.yml:ro`), `${dir}/conf.yml:/app/conf.yml:ro`);
  t.equal(parseVolume('data:/var/lib/data'), 'data:/var/lib/data', 'a named volume');
  t.equal(parseVolume('/cache'), '/cache', 'an anonymous volume');
  const rel = `./${join(dir, 'conf.yml').slice(process.cwd().length + 1)}`;
  if (join(dir).startsWith(process.cwd())) t.equal(parseVolume(`${rel}:/c`), `${resolve(rel)}:/c`, 'a relative bind is resolved here');
  t.equal(parseVolume('./not-checked:/c', false), `${resolve('./not-checked')}:/c`, 'remote engine: the source is not checked here');
  usage(t, () => parseVolume('data:relative'), /the container path "relative" is not absolute/, 'relative target');
  usage(t, () => parseVolume(`${dir}:/x:rx`), /"rx" is not a volume option/, 'bad mode');
  usage(t, () => parseVolume('a:b:c:d'), /is not a volume/, 'too many parts');
  usage(t, () => parseVolume(`${dir}/nope:/x`), /bind source .*nope does not exist; create it, or fix the path/, 'missing source');
  usage(t, () => parseVolume('bad name!:/x'), /neither a path nor a volume name/, 'bad volume name');
});

t.test('--mount and --tmpfs', async (t) => {
  t.same(parseMount(`type=bind,source=${dir},target=/data,readonly`), { type: 'bind', source: dir, target: '/data', readOnly: true });
  t.same(parseMount('type=volume,src=cache,dst=/cache'), { type: 'volume', source: 'cache', target: '/cache' });
  t.same(parseMount('target=/anon'), { type: 'volume', target: '/anon' }, 'volume is the default type');
  t.same(parseMount('type=tmpfs,target=/run,tmpfs-size=64m,tmpfs-mode=1777'), { type: 'tmpfs', target: '/run', tmpfsSizeBytes: 64 * 1024 * 1024, tmpfsMode: 0o1777 });
  t.same(parseMount(`type=bind,source=${dir},target=/d,readonly=false`), { type: 'bind', source: dir, target: '/d' }, 'readonly=false');
  usage(t, () => parseMount('type=bind,target=/x'), /a bind needs source=/, 'bind without source');
  usage(t, () => parseMount('type=nfs,target=/x'), /type "nfs" is not one of/, 'unknown type');
  usage(t, () => parseMount(`type=bind,source=${dir},target=/x,bind-propagation=shared`), /"bind-propagation" is not supported/, 'a key not taken is refused, not dropped');
  usage(t, () => parseMount('type=tmpfs,source=x,target=/x'), /a tmpfs has no source/, 'tmpfs with source');
  usage(t, () => parseMount('type=volume,source=v'), /has no target/, 'no target');
  t.same(parseTmpfs(['/run:rw,size=64m', '/tmp']), { '/run': 'rw,size=64m', '/tmp': '' });
  usage(t, () => parseTmpfs(['run']), /not absolute/, 'relative tmpfs');
});

t.test('limits', async (t) => {
  t.equal(parseBytes('512m', '--memory'), 512 * 1024 ** 2);
  t.equal(parseBytes('1g', '--memory'), 1024 ** 3);
  t.equal(parseBytes('1.5GB', '--memory'), 1.5 * 1024 ** 3);
  t.equal(parseBytes('100MiB', '--memory'), 100 * 1024 ** 2);
  t.equal(parseBytes('4096', '--memory'), 4096);
  usage(t, () => parseMemory('abc'), /--memory "abc" is not a size/, '--memory abc');
  usage(t, () => parseMemory('4m'), /below the engines' minimum of 6m/, '--memory 4m');
  t.equal(parseCpus('0.5'), 5e8);
  t.equal(parseCpus('2'), 2e9);
  t.equal(parseCpus('.25'), 2.5e8);
  usage(t, () => parseCpus('0'), /--cpus "0" is not a positive number/, '--cpus 0');
  usage(t, () => parseCpus('-1'), /--cpus "-1" is not a positive number/, '--cpus -1');
  usage(t, () => parseCpus('0.001'), /below 0.01/, '--cpus 0.001');
  t.equal(parsePidsLimit('100'), 100);
  t.equal(parsePidsLimit('-1'), -1);
  usage(t, () => parsePidsLimit('0'), /not a positive whole number/, '--pids-limit 0');
  t.same(parseCapabilities(['net_bind_service', 'CAP_SYS_TIME', 'ALL'], '--cap-add'), ['NET_BIND_SERVICE', 'SYS_TIME', 'ALL']);
  usage(t, () => parseCapabilities(['net-admin'], '--cap-add'), /not a capability name/, 'bad capability');
});

t.test('labels, networks, hosts, dns', async (t) => {
  t.same(parseLabels(['team=web', 'tier=', 'flag']), { team: 'web', tier: '', flag: '' });
  usage(t, () => parseLabels(['io.reuseport-pod.pod=x']), /reuseport-pod's own/, 'a reserved label');
  t.same(parseNetworks(['backend', 'backend', 'cache']), ['backend', 'cache'], 'duplicates dropped');
  for (const n of ['host', 'none', 'bridge', 'container:x']) usage(t, () => parseNetworks([n]), /the pod's own business/, `--network ${n}`);
  t.same(parseAddHosts(['db.internal:10.0.0.5', 'v6:::1', 'gw=host-gateway']), ['db.internal:10.0.0.5', 'v6:::1', 'gw:host-gateway']);
  usage(t, () => parseAddHosts(['db.internal']), /is not HOST:IP/, 'no address');
  usage(t, () => parseAddHosts(['db:not-an-ip']), /is not an IP address/, 'bad address');
});

t.test('--network-alias: DNS names, only with a network to be named on', async (t) => {
  t.same(parseNetworkAliases(['web', 'web', 'api.internal'], ['backend']), ['web', 'api.internal'], 'duplicates dropped');
  usage(t, () => parseNetworkAliases(['web'], undefined), /^--network-alias names the pod on the networks it joins, and it joins none; add --network NAME$/, 'without --network');
  usage(t, () => parseNetworkAliases(['-web'], ['backend']), /is not a name other containers can look up/, 'a bad name');
});

t.test('--stop-signal: names with or without SIG, numbers, as docker takes them', async (t) => {
  t.equal(parseStopSignal('SIGQUIT'), 'SIGQUIT');
  t.equal(parseStopSignal('quit'), 'SIGQUIT');
  t.equal(parseStopSignal('2'), 'SIGINT');
  usage(t, () => parseStopSignal('SIGNOPE'), /^--stop-signal "SIGNOPE" is not a signal/, 'not a signal');
  usage(t, () => parseStopSignal('9'), /^--stop-signal SIGKILL cannot be caught/, 'SIGKILL by number');
  usage(t, () => parseStopSignal('STOP'), /SIGSTOP cannot be caught/, 'SIGSTOP');
});

t.test('health: durations as docker takes them', async (t) => {
  t.equal(parseDuration('30s', 'x'), 30_000);
  t.equal(parseDuration('1m30s', 'x'), 90_000);
  t.equal(parseDuration('500ms', 'x'), 500);
  t.equal(parseDuration('1.5s', 'x'), 1500);
  usage(t, () => parseDuration('5', '--health-interval'), /--health-interval "5" is not a duration/, 'a bare number');
  usage(t, () => parseDuration('5s junk', '--health-interval'), /is not a duration/, 'trailing junk');
  t.equal(parseHealth({}), undefined, 'no flag: the image decides');
  t.same(parseHealth({ none: true }), { test: ['NONE'] });
  t.same(parseHealth({ cmd: 'test -f /tmp/ok', interval: '2s', timeout: '1s', retries: '3', startPeriod: '10s' }), {
    test: ['CMD-SHELL', 'test -f /tmp/ok'],
    intervalMs: 2000,
    timeoutMs: 1000,
    retries: 3,
    startPeriodMs: 10_000,
  });
  t.same(parseHealth({ interval: '1s' }), { intervalMs: 1000 }, "timings alone keep the image's test");
  usage(t, () => parseHealth({ none: true, cmd: 'x' }), /--no-healthcheck conflicts/, 'none + cmd');
  usage(t, () => parseHealth({ cmd: ' ' }), /--health-cmd is empty/, 'empty cmd');
  usage(t, () => parseHealth({ cmd: 'x', retries: '0' }), /not a positive whole number/, 'retries 0');
});

t.test('the spec keeps the options; a pod without any reads and hashes as before', async (t) => {
  const base = { name: 'web', image: 'app:1', ports: [{ hostPort: 80, containerPort: 8080 }], replicas: 2, env: { A: '1' }, stopTimeout: 10 };
  const oldHash = createHash('sha256').update(JSON.stringify(['app:1', [['A', '1']]])).digest('hex').slice(0, 16);
  t.equal(specHash(storedSpec(base)), oldHash, "no options: the hash releases before options wrote, so existing replicas stay up to date");
  t.notOk('options' in storedSpec(base), 'no options key stored');
  const options = compactOptions({ memoryBytes: 1 << 27, user: '1000', volumes: [], labels: {}, readOnly: false });
  t.same(options, { memoryBytes: 1 << 27, user: '1000' }, 'empty and false options are dropped');
  t.equal(compactOptions({ volumes: [] }), undefined, 'nothing left: undefined');
  const spec = { ...base, options: { user: '1000', memoryBytes: 1 << 27 } };
  const stored = storedSpec(spec);
  t.not(specHash(stored), oldHash, 'options change the hash');
  t.equal(specHash({ ...stored, options: { memoryBytes: 1 << 27, user: '1000' } }), specHash(stored), 'key order does not');
  t.same(readStoredSpec({ [LABEL.spec]: JSON.stringify(stored) })?.options, spec.options, 'read back from the label');
});

t.test("the engine's view: process options and the namespace's", async (t) => {
  const o = { user: '1000', volumes: ['/a:/b'], memoryBytes: 1 << 27, nanoCpus: 5e8, networks: ['backend'], addHosts: ['db:10.0.0.5'], dns: ['1.1.1.1'], labels: { x: 'y' } };
  t.same(containerOptions(o), { user: '1000', binds: ['/a:/b'], memoryBytes: 1 << 27, nanoCpus: 5e8 }, 'networks, hosts, dns and labels are not process options');
  t.same(namespaceOptions(o), { networks: ['backend'], extraHosts: ['db:10.0.0.5'], dns: ['1.1.1.1'] });
  t.same(namespaceOptions(o, []), { extraHosts: ['db:10.0.0.5'], dns: ['1.1.1.1'] }, 'the networks already joined are left out');
  t.equal(containerOptions(undefined), undefined);
});
