// Reliability under load: failed requests and p99 latency while the tool changes a pod, with the
// pod's net.ipv4.tcp_migrate_req on (what `create` sets) and off (a flag of this benchmark only).
//
//   npm run build && node bench/reliability.mjs [--cycles 10] [--ka-cycles 5] [--migrate on,off]
//                                              [--replicas 4] [--concurrency 6] [--no-docs]
//
// For each setting: one pod of --replicas (rel-on / rel-off) on a free 127.0.0.1 port; then
//   --cycles rollout cycles:     `rollout rel-X --env CYCLE=<n>` (every replica replaced, one at a
//                                time: a new one starts and listens, an old one gets SIGTERM and drains)
//   --cycles scale-down cycles:  `scale rel-X --replicas R/2`, then back to R (the down step drains R/2)
// each under connection-per-request load (test/helpers/load.ts: --concurrency loops of a GET on a
// new connection to 127.0.0.1). Every cycle: 1 s of steady load first (the steady-state latency),
// then the operation, then 0.3 s more; the load stops there (and in any case after 60 s).
// Then, with the setting on only, --ka-cycles rollouts under keep-alive load: failures on reused
// sockets (a request written to a connection the draining server was closing as idle) and on fresh.
//
// "off": the pod is made by `create` as usual, then the sysctl is set to 0 in its network namespace
// from the host: `nsenter -t <sandbox host pid> -n sysctl -w net.ipv4.tcp_migrate_req=0` (root).
// Replicas join that namespace, so every replica, old and new, runs with it off; it is read back
// before and after the cycles.
//
// Prints tables and replaces the part of docs/reliability.md between the "results" markers
// (unless --no-docs). Pods are named rel-*, removed at the end, on error and on Ctrl-C.
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { flag, helpAndExitIfAsked } from './usage.mjs';

helpAndExitIfAsked(import.meta.url);

const repo = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const cycles = Number(flag('cycles', 10));
const kaCycles = Number(flag('ka-cycles', 5));
const settings = String(flag('migrate', 'on,off')).split(',');
const replicas = Number(flag('replicas', 4));
const concurrency = Number(flag('concurrency', 6));
const writeDocs = !args.includes('--no-docs');
const command = `node bench/reliability.mjs${args.length ? ` ${args.join(' ')}` : ''}`;
// The tool measured is a copy of dist/ taken at the start: others may rebuild dist/ during a run.
const distMain = join(repo, 'dist/src/cli/main.js');
if (!existsSync(distMain)) throw new Error(`${distMain} is missing: run \`npm run build\` first`);
const toolDir = mkdtempSync(join(os.tmpdir(), 'rel-tool-'));
symlinkSync(join(repo, 'node_modules'), join(toolDir, 'node_modules'));
if (existsSync(join(repo, 'build'))) symlinkSync(join(repo, 'build'), join(toolDir, 'build'));
cpSync(join(repo, 'dist'), join(toolDir, 'dist'), { recursive: true });
cpSync(join(repo, 'package.json'), join(toolDir, 'package.json'));
const distBuilt = statSync(distMain).mtime.toISOString();
const cliPath = join(toolDir, 'dist/src/cli/main.js');
process.once('exit', () => rmSync(toolDir, { recursive: true, force: true }));
const pods = settings.map((s) => `rel-${s}`);

// The load generator the tests use, transpiled as is (it imports node: modules only).
const require = createRequire(import.meta.url);
const ts = require(join(repo, 'node_modules/typescript'));
const tmp = mkdtempSync(join(os.tmpdir(), 'rel-load-'));
const loadJs = join(tmp, 'load.mjs');
writeFileSync(
  loadJs,
  ts.transpileModule(readFileSync(join(repo, 'test/helpers/load.ts'), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText,
);
const { startLoad, latency, summarize } = await import(pathToFileURL(loadJs).href);
rmSync(tmp, { recursive: true, force: true });

const run = (file, argv, timeoutMs = 180_000) =>
  new Promise((resolve) => {
    execFile(file, argv, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout: stdout.trim(), stderr: stderr.trim() });
    });
  });
const cli = (...argv) => run(process.execPath, [cliPath, ...argv]);
const docker = async (...argv) => {
  const r = await run('docker', argv);
  if (r.code !== 0) throw new Error(`docker ${argv.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
};

async function removePods() {
  for (const pod of pods) {
    const ids = (await run('docker', ['ps', '-aq', '--filter', `label=io.reuseport-pod.pod=${pod}`])).stdout.split('\n').filter(Boolean);
    if (ids.length) await run('docker', ['rm', '-f', ...ids]);
  }
}
process.once('SIGINT', () => {
  console.error('\ninterrupted: removing the rel-* pods');
  removePods().finally(() => process.exit(130));
});

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function sandboxPid(pod) {
  return Number(await docker('inspect', '-f', '{{.State.Pid}}', `${pod}-sandbox`));
}
async function readMigrate(pod) {
  return execFileSync('nsenter', ['-t', String(await sandboxPid(pod)), '-n', 'sysctl', '-n', 'net.ipv4.tcp_migrate_req'], { encoding: 'utf8' }).trim();
}
async function setMigrate(pod, value) {
  execFileSync('nsenter', ['-t', String(await sandboxPid(pod)), '-n', 'sysctl', '-q', '-w', `net.ipv4.tcp_migrate_req=${value}`]);
}

/** One cycle: 1 s steady, the operation(s), 0.3 s tail; the load bounded to 60 s whatever happens. */
async function cycle(port, mode, ops) {
  const load = startLoad({ port, mode, concurrency, maxDurationMs: 60_000, maxRequests: 60_000, timeoutMs: 5_000 });
  try {
    await delay(1_000);
    const from = load.now();
    for (const op of ops) {
      const r = await op();
      if (r.code !== 0) throw new Error(`operation failed (exit ${r.code}): ${r.stderr}`);
    }
    const to = load.now();
    await delay(300);
    const report = await load.stop();
    const steady = latency(report.records, 0, from);
    const during = latency(report.records, from, to);
    const failedDuring = report.records.filter((r) => !r.ok && r.start >= from).length;
    return { report, seconds: (to - from) / 1000, steady, during, failedDuring };
  } finally {
    await load.stop();
  }
}

const kinds = (report) => Object.entries(report.failures).map(([k, n]) => `${k} ${n}`).join(', ') || '—';
const ms = (n) => n.toFixed(1);

const results = []; // { setting, kind, n, ... }

async function benchSetting(setting) {
  const pod = `rel-${setting}`;
  const port = await freePort();
  const created = await cli('create', pod, '--port', `127.0.0.1:${port}:8080`, '--replicas', String(replicas), '--quiet', '--json');
  if (created.code !== 0) throw new Error(`create ${pod}: ${created.stderr}`);
  if (setting === 'off') await setMigrate(pod, 0);
  const before = await readMigrate(pod);
  if (before !== (setting === 'on' ? '1' : '0')) throw new Error(`${pod}: tcp_migrate_req reads ${before}`);
  console.error(`${pod}: ${replicas} replicas on 127.0.0.1:${port}, tcp_migrate_req=${before}`);

  for (let n = 1; n <= cycles; n++) {
    const r = await cycle(port, 'connection-per-request', [() => cli('rollout', pod, '--env', `CYCLE=${setting}-${n}`, '--quiet', '--json')]);
    results.push({ setting, kind: 'rollout', n, ...r });
    console.error(`  rollout ${n}: ${r.seconds.toFixed(1)} s, ${r.report.requests} requests, ${r.report.failed} failed (${kinds(r.report)}), p99 steady ${ms(r.steady.p99)} ms, during ${ms(r.during.p99)} ms`);
  }
  for (let n = 1; n <= cycles; n++) {
    const half = Math.max(1, Math.floor(replicas / 2));
    const r = await cycle(port, 'connection-per-request', [
      () => cli('scale', pod, '--replicas', String(half), '--quiet', '--json'),
      () => cli('scale', pod, '--replicas', String(replicas), '--quiet', '--json'),
    ]);
    results.push({ setting, kind: `scale ${replicas}→${half}→${replicas}`, n, ...r });
    console.error(`  scale ${n}: ${r.seconds.toFixed(1)} s, ${r.report.requests} requests, ${r.report.failed} failed (${kinds(r.report)}), p99 steady ${ms(r.steady.p99)} ms, during ${ms(r.during.p99)} ms`);
  }
  if (setting === 'on') {
    for (let n = 1; n <= kaCycles; n++) {
      const r = await cycle(port, 'keep-alive', [() => cli('rollout', pod, '--env', `CYCLE=ka-${n}`, '--quiet', '--json')]);
      results.push({ setting, kind: 'rollout, keep-alive', n, ...r });
      console.error(`  keep-alive rollout ${n}: ${r.report.requests} requests, ${r.report.reusedSocketFailures} failed on reused sockets, ${r.report.freshSocketFailures} on fresh`);
    }
  }
  const after = await readMigrate(pod);
  if (after !== before) throw new Error(`${pod}: tcp_migrate_req changed from ${before} to ${after} during the run`);
  const rm = await cli('rm', pod, '--quiet');
  if (rm.code !== 0) throw new Error(`rm ${pod}: ${rm.stderr}`);
}

function table(setting, kind) {
  const rows = results.filter((r) => r.setting === setting && r.kind === kind);
  if (rows.length === 0) return '';
  const all = summarize('connection-per-request', rows.flatMap((r) => r.report.records), 0);
  const lines = [
    `| cycle | operation s | requests | failed | failure kinds | p99 steady (ms) | p99 during (ms) |`,
    `| ---: | ---: | ---: | ---: | --- | ---: | ---: |`,
    ...rows.map((r) => `| ${r.n} | ${r.seconds.toFixed(1)} | ${r.report.requests} | ${r.report.failed} | ${kinds(r.report)} | ${ms(r.steady.p99)} | ${ms(r.during.p99)} |`),
  ];
  const failed = rows.reduce((a, r) => a + r.report.failed, 0);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  lines.push(
    `| **all ${rows.length}** | ${rows.reduce((a, r) => a + r.seconds, 0).toFixed(1)} | ${all.requests} | **${failed}** | ${kinds(all)} | ${ms(median(rows.map((r) => r.steady.p99)))} (median) | ${ms(median(rows.map((r) => r.during.p99)))} (median) |`,
  );
  return lines.join('\n');
}

function kaTable() {
  const rows = results.filter((r) => r.kind === 'rollout, keep-alive');
  if (rows.length === 0) return '';
  return [
    `| cycle | operation s | requests | failed on a reused socket (idle-close race) | failed on a fresh socket | p99 steady (ms) | p99 during (ms) |`,
    `| ---: | ---: | ---: | ---: | ---: | ---: | ---: |`,
    ...rows.map((r) => `| ${r.n} | ${r.seconds.toFixed(1)} | ${r.report.requests} | ${r.report.reusedSocketFailures} | ${r.report.freshSocketFailures} | ${ms(r.steady.p99)} | ${ms(r.during.p99)} |`),
    `| **all ${rows.length}** | | ${rows.reduce((a, r) => a + r.report.requests, 0)} | **${rows.reduce((a, r) => a + r.report.reusedSocketFailures, 0)}** | **${rows.reduce((a, r) => a + r.report.freshSocketFailures, 0)}** | | |`,
  ].join('\n');
}

/** What the run ran on, taken at the start (the load line is completed at the end). */
async function environment() {
  const head = execFileSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['-C', repo, 'status', '--porcelain', 'src', 'examples'], { encoding: 'utf8' }).trim() ? ' (with uncommitted changes in src/ or examples/)' : '';
  const server = await docker('version', '--format', '{{.Server.Version}}');
  const image = (await docker('image', 'inspect', '-f', '{{.Id}}', 'reuseport-pod/example:0.1.0').catch(() => '?')).replace(/^sha256:/, '').slice(0, 12);
  const dockerdArgs = execFileSync('sh', ['-c', 'for p in $(pgrep -x dockerd); do tr "\\0" " " < /proc/$p/cmdline; echo; done'], { encoding: 'utf8' }).trim().split('\n');
  const endpoint = process.env.DOCKER_HOST || 'unix:///var/run/docker.sock';
  const mine = dockerdArgs.find((a) => (endpoint === 'unix:///var/run/docker.sock' ? !/ (-H|--host)/.test(a) : a.includes(endpoint.replace(/^unix:\/\//, '')))) ?? '?';
  const proxy = /userland-proxy=false/.test(mine) ? 'off: loopback is DNAT\'ed by iptables' : 'on (the default): loopback goes through docker-proxy';
  return [
    `- ${os.cpus().length} cores, Linux ${os.release()}, Node ${process.version}, Docker ${server} (\`${mine}\`; userland proxy ${proxy})`,
    `- reuseport-pod at ${head}${dirty}: a copy of dist/ as built ${distBuilt}; replicas from reuseport-pod/example:0.1.0 (${image} at the start)`,
    `- ${replicas} replicas of reuseport-pod/example; load: ${concurrency} loops, each a GET on a new connection (keep-alive rows: ${concurrency} loops over one keep-alive agent, maxSockets ${concurrency}), 5 s timeout per request`,
  ];
}

const started = Date.now();
const loadAtStart = os.loadavg();
await removePods();
const envLines = await environment();
try {
  for (const s of settings) await benchSetting(s);
} catch (err) {
  console.error(`reliability: ${err.message}`);
  await removePods();
  process.exit(1);
}
await removePods();

const sections = [];
const total = (s) => results.filter((r) => r.setting === s && !r.kind.includes('keep-alive')).reduce((a, r) => a + r.report.failed, 0);
sections.push(`Command: \`${command}\` (${((Date.now() - started) / 60000).toFixed(1)} min, ${new Date().toISOString().slice(0, 16)}Z)\n\n${[
  ...envLines,
  `- load average at the start ${loadAtStart.map((x) => x.toFixed(1)).join(' / ')}, at the end ${os.loadavg().map((x) => x.toFixed(1)).join(' / ')} (1 / 5 / 15 min; other work shared the machine)`,
].join('\n')}`);
sections.push(
  `**Failed requests across all ${cycles} rollout + ${cycles} scale cycles:** ${settings.map((s) => `tcp_migrate_req=${s === 'on' ? 1 : 0}: **${total(s)}**`).join(' · ')}`,
);
for (const s of settings) {
  for (const kind of [...new Set(results.filter((r) => r.setting === s && !r.kind.includes('keep-alive')).map((r) => r.kind))]) {
    sections.push(`#### ${kind}, tcp_migrate_req=${s === 'on' ? 1 : 0}\n\n${table(s, kind)}`);
  }
}
const ka = kaTable();
if (ka) sections.push(`#### rollout under keep-alive load, tcp_migrate_req=1\n\n${ka}`);
const md = sections.join('\n\n');
console.log(md);

if (writeDocs) {
  const docs = join(repo, 'docs/reliability.md');
  const text = readFileSync(docs, 'utf8');
  const start = '<!-- results:start -->';
  const end = '<!-- results:end -->';
  if (!text.includes(start) || !text.includes(end)) {
    console.error(`reliability: ${docs} lacks the ${start} / ${end} markers; not written`);
  } else {
    writeFileSync(docs, `${text.slice(0, text.indexOf(start) + start.length)}\n${md}\n${text.slice(text.indexOf(end))}`);
    console.error(`reliability: results written to docs/reliability.md`);
  }
}
