// Data path through Docker: wrk against 127.0.0.1, keep-alive and `Connection: close`, for
//   (i)   one replica container published directly: docker run -p 127.0.0.1:H:8080 reuseport-pod/example:0.1.0
//   (ii)  the tool's pod of 2:  node dist/src/cli/main.js create bench-d-tool --port 127.0.0.1:H:8080 --replicas 2
//   (iii) the same pod by hand with the docker CLI (sandbox -p, 2 replicas --network container:...)
//   (iv)  nginx (1 worker, bench/nginx/) in a container in front of 2 replica containers on a
//         user-defined bridge network, with HTTP/1.1 keep-alive to them
//   (v)   the same without upstream keep-alive (nginx's default: a new upstream connection per request)
//   (vi)  the tool's pod of 2 in --mode host: replicas in the host's namespace, no NAT, no proxy
//   (vii) 2 plain SO_REUSEPORT processes on the host (node dist/examples/http-server.js): the limit
// reporting req/s, p50/p99, and CPU seconds per 100k requests of the server processes (utime+stime
// from /proc/<host pid>/stat; nginx's master+worker counted with the replicas and also shown
// alone) and of docker-proxy when dockerd's userland proxy is on. Not a test: it prints tables and
// refreshes the section of docs/benchmarks.md for the mode dockerd runs in: `## Data path through
// Docker` (userland proxy off) or `## Data path through Docker, userland proxy on`, so that both
// modes' figures stand side by side.
//
//   npm run build && node bench/datapath.mjs [--rounds 3] [--duration 5] [--warmup 1] [--connections 32] [--port 18980] [--foreign-max 0.25] [--budget 420] [--no-docs | --force-docs]
//
// Other people's tests share the machine: a run counts as quiet when other processes used at most
// --foreign-max cores during it. After --rounds rounds, extra runs are made for the pairs with fewer
// than 2 quiet runs, within --budget seconds; figures are medians of quiet runs. Without 2 quiet
// runs for every pair the docs are not written (--force-docs writes them anyway).
//
// dockerd's userland proxy changes the path (docker-proxy in userland vs iptables DNAT). The figures
// are for the mode dockerd runs in. To measure the other mode, dockerd must be restarted, which
// stops every container on this engine (other people's too):
//
//   node bench/datapath.mjs --restart-dockerd-with-proxy=on|off [--dry-run]
//
// stops the running dockerd (SIGTERM, waits), starts it again with the same arguments except
// --userland-proxy, waits until it answers, says so loudly, and then runs the benchmark. It leaves
// dockerd in the new mode. --dry-run prints what it would do and stops. Never run it on a shared
// machine while others use the engine.
//
// Everything is named bench-d-* (containers, network bench-d-net) and removed at the end, on error,
// and on Ctrl-C. wrk runs with one thread, which keeps one of this machine's cores busy.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import * as os from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { writeSection } from './docs-section.mjs';
import { daemonJsonProxy, dockerdProcess, hostPid, measureRounds, median, proxyMode, tree, waitHttp, startConfigs, resultRows } from './measure.mjs';
import { flag, helpAndExitIfAsked } from './usage.mjs';

helpAndExitIfAsked(import.meta.url);

const repo = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const rounds = Number(flag('rounds', 3));
const duration = Number(flag('duration', 5));
const warmup = Number(flag('warmup', 1));
const connections = Number(flag('connections', 32));
const basePort = Number(flag('port', 18980));
const writeDocs = !args.includes('--no-docs');
const restartProxy = flag('restart-dockerd-with-proxy', undefined);
const dryRun = args.includes('--dry-run');
const command = `node bench/datapath.mjs${args.length ? ` ${args.join(' ')}` : ''}`;

const APP = 'reuseport-pod/example:0.1.0';
const PAUSE = 'reuseport-pod/pause:0.1.0';
const NET = 'bench-d-net';
const CONTAINERS = [
  'bench-d-single',
  'bench-d-tool-1', 'bench-d-tool-2', 'bench-d-tool-sandbox',
  'bench-d-hand-1', 'bench-d-hand-2', 'bench-d-hand-sandbox',
  'bench-d-nginx', 'bench-d-nginx-nk', 'bench-d-up1', 'bench-d-up2',
  'bench-d-host-1', 'bench-d-host-2', 'bench-d-host-sandbox',
];
/** docs/benchmarks.md's section for a userland-proxy mode: the two modes' figures live side by side. */
const sectionHeading = (mode) => (mode === 'on' ? '## Data path through Docker, userland proxy on' : '## Data path through Docker');
const say = (line) => process.stderr.write(`datapath: ${line}\n`);
const docker = (...a) => execFileSync('docker', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

// ---- cleanup: only our own names -------------------------------------------------------------
const children = new Set();
// The tool's own records for its pod (<pod>-lock, <pod>-state-g<n>, or <pod>-state-<n> before 0.1.0 names changed), when the tool makes them.
const TOOL_RECORDS = /^bench-d-(tool|host)-(lock|state-g?\d+)$/;
/** (vii)'s host processes, killed by cleanup. */
const plain = new Set();
function cleanup() {
  for (const p of plain) p.kill('SIGKILL');
  plain.clear();
  // A killed client's last engine request may still be creating a container: give it a moment.
  if (children.size) {
    for (const c of children) c.kill('SIGKILL');
    execFileSync('sleep', ['1']);
  }
  let removed = 0;
  const existing = execFileSync('docker', ['ps', '-a', '--format', '{{.Names}}'], { encoding: 'utf8' }).split('\n');
  const mine = existing.filter((n) => CONTAINERS.includes(n) || TOOL_RECORDS.test(n));
  // Replicas and nginx first, sandboxes last (a sandbox removed under its replicas strands them).
  for (const list of [mine.filter((n) => !n.endsWith('-sandbox')), mine.filter((n) => n.endsWith('-sandbox'))]) {
    if (list.length) execFileSync('docker', ['rm', '-f', ...list], { stdio: 'ignore' });
    removed += list.length;
  }
  if (execFileSync('docker', ['network', 'ls', '--format', '{{.Name}}'], { encoding: 'utf8' }).split('\n').includes(NET)) {
    execFileSync('docker', ['network', 'rm', NET], { stdio: 'ignore' });
    removed++;
  }
  return removed;
}
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    say(`${sig}: removing bench-d-* containers and ${NET} ...`);
    try {
      say(`removed ${cleanup()} object(s)`);
    } finally {
      process.exit(130);
    }
  });
}

async function engineAnswers(timeoutMs) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 5000 });
      return true;
    } catch {
      await delay(500);
    }
  }
  return false;
}

async function restartDockerd(want) {
  if (want !== 'on' && want !== 'off') throw new Error('--restart-dockerd-with-proxy takes on or off');
  const d = dockerdProcess();
  if (!d) throw new Error('cannot find the one dockerd process that serves DOCKER_HOST (or /var/run/docker.sock); not restarting anything');
  const current = proxyMode(d.argv);
  if (current === want) {
    say(`dockerd (pid ${d.pid}: ${d.argv.join(' ')}) already runs with the userland proxy ${want}: not restarting it`);
    return { from: current, to: want, argv: d.argv.slice(1) };
  }
  if (daemonJsonProxy() !== undefined) {
    throw new Error(`/etc/docker/daemon.json sets "userland-proxy"; change it there and restart dockerd yourself (a flag would conflict with it)`);
  }
  // Same arguments, --userland-proxy (either spelling) dropped, then the asked mode.
  const kept = [];
  for (let i = 1; i < d.argv.length; i++) {
    if (/^--userland-proxy=/.test(d.argv[i])) continue;
    if (d.argv[i] === '--userland-proxy') {
      if (d.argv[i + 1] && /^(true|false|0|1)$/i.test(d.argv[i + 1])) i++;
      continue;
    }
    kept.push(d.argv[i]);
  }
  const newArgv = want === 'off' ? [...kept, '--userland-proxy=false'] : kept;
  let binary = d.argv[0];
  try {
    binary = readlinkSync(`/proc/${d.pid}/exe`);
  } catch {}
  let logFile = '/var/log/dockerd-bench.log';
  try {
    const out = readlinkSync(`/proc/${d.pid}/fd/1`);
    if (out.startsWith('/') && !out.startsWith('/dev/')) logFile = out;
  } catch {}
  const banner = '='.repeat(100);
  process.stderr.write(
    `${banner}\n!!! datapath: RESTARTING DOCKERD ${dryRun ? '(dry run: nothing is done)' : ''}\n` +
      `!!!   running: pid ${d.pid}: ${d.argv.join(' ')}  (userland proxy ${current})\n` +
      `!!!   will run: ${[binary, ...newArgv].join(' ')}  (userland proxy ${want}), output appended to ${logFile}\n` +
      `!!!   EVERY container on this engine is stopped by it (other people's too); only those with a restart policy come back.\n` +
      (current === 'off' && want === 'on' ? '!!!   Docker leaves route_localnet=1 and its MASQUERADE rules from the DNAT mode behind.\n' : '') +
      `${banner}\n`,
  );
  if (dryRun) return { from: current, to: want, argv: newArgv };
  process.kill(d.pid, 'SIGTERM');
  const until = Date.now() + 60_000;
  while (existsSync(`/proc/${d.pid}`) && Date.now() < until) await delay(250);
  if (existsSync(`/proc/${d.pid}`)) throw new Error(`dockerd (pid ${d.pid}) did not exit within 60 s of SIGTERM; left alone`);
  say(`dockerd pid ${d.pid} stopped`);
  mkdirSync(dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'a');
  const child = spawn(binary, newArgv, { detached: true, stdio: ['ignore', fd, fd] });
  child.unref();
  closeSync(fd);
  if (!(await engineAnswers(60_000))) throw new Error(`the new dockerd (pid ${child.pid}) does not answer after 60 s; see ${logFile}`);
  process.stderr.write(`${banner}\n!!! datapath: dockerd RESTARTED: pid ${child.pid}: ${[binary, ...newArgv].join(' ')} (userland proxy ${want}); it stays in this mode.\n!!!   Back to the previous mode: node bench/datapath.mjs --restart-dockerd-with-proxy=${current}\n${banner}\n`);
  return { from: current, to: want, argv: newArgv };
}

async function waitListeners(sandbox, n, timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs;
  while (Number(docker('exec', sandbox, '/pause', '--listeners', '8080')) < n) {
    if (Date.now() > until) throw new Error(`${sandbox}: fewer than ${n} listeners after ${timeoutMs / 1000} s`);
    await delay(100);
  }
}

/** Replaces (or appends) the section that starts with `heading`, up to the next `## ` heading. */

// ---- the four configurations -------------------------------------------------------------------
// Same container options as the tool's (bench/launcher-sequential.sh uses them too).
const SANDBOX_OPTS = ['--sysctl', 'net.ipv4.tcp_migrate_req=1', '--cap-drop', 'ALL', '--read-only', '--security-opt', 'no-new-privileges', '--restart', 'unless-stopped'];
const REPLICA_OPTS = ['-e', 'PORT=8080', '--stop-timeout', '10', '--security-opt', 'no-new-privileges', '--restart', 'unless-stopped'];
const LABEL = ['--label', 'io.reuseport-pod.bench=datapath'];

const configs = [
  {
    id: 'single',
    label: '(i) 1 replica container, `-p` directly',
    async start(port) {
      docker('run', '-d', '--name', 'bench-d-single', ...LABEL, '-p', `127.0.0.1:${port}:8080`, '-e', 'INSTANCE=bench-d-single', ...REPLICA_OPTS, APP);
      await waitHttp(port);
      return { servers: [hostPid('bench-d-single')] };
    },
  },
  {
    id: 'tool',
    label: "(ii) the tool's pod of 2",
    async start(port) {
      execFileSync(process.execPath, [`${repo}dist/src/cli/main.js`, 'create', 'bench-d-tool', '--port', `127.0.0.1:${port}:8080`, '--replicas', '2', '--quiet'], { stdio: ['ignore', 'ignore', 'inherit'] });
      return { servers: ['bench-d-tool-1', 'bench-d-tool-2', 'bench-d-tool-sandbox'].map(hostPid) };
    },
  },
  {
    id: 'hand',
    label: '(iii) the same pod by hand (docker CLI)',
    async start(port) {
      docker('run', '-d', '--name', 'bench-d-hand-sandbox', ...LABEL, '-p', `127.0.0.1:${port}:8080`, ...SANDBOX_OPTS, PAUSE);
      for (const i of [1, 2]) docker('run', '-d', '--name', `bench-d-hand-${i}`, ...LABEL, '--network', 'container:bench-d-hand-sandbox', '-e', `INSTANCE=bench-d-hand-${i}`, ...REPLICA_OPTS, APP);
      await waitListeners('bench-d-hand-sandbox', 2);
      return { servers: ['bench-d-hand-1', 'bench-d-hand-2', 'bench-d-hand-sandbox'].map(hostPid) };
    },
  },
  {
    id: 'nginx',
    label: '(iv) nginx container (1 worker) → 2 replica containers',
    async start(port, nginxImage) {
      docker('network', 'create', ...LABEL, NET);
      for (const up of ['bench-d-up1', 'bench-d-up2']) docker('run', '-d', '--name', up, ...LABEL, '--network', NET, '-e', `INSTANCE=${up}`, ...REPLICA_OPTS, APP);
      // nginx resolves the upstream names when it starts: the replicas must exist first.
      docker('run', '-d', '--name', 'bench-d-nginx', ...LABEL, '--network', NET, '-p', `127.0.0.1:${port}:8080`, nginxImage);
      await waitHttp(port);
      const nginx = tree(hostPid('bench-d-nginx'));
      return { servers: [...nginx, hostPid('bench-d-up1'), hostPid('bench-d-up2')], extra: nginx, extraLabel: 'nginx' };
    },
  },
  {
    id: 'nginx-nk',
    label: '(v) = (iv) without upstream keep-alive (nginx\'s default proxying)',
    async start(port, nginxImage) {
      // The same two replica containers as (iv), which started them.
      docker('run', '-d', '--name', 'bench-d-nginx-nk', ...LABEL, '--network', NET, '-p', `127.0.0.1:${port}:8080`, nginxImage, '/usr/sbin/nginx', '-c', '/etc/nginx/nginx-no-upstream-keepalive.conf', '-g', 'daemon off;');
      await waitHttp(port);
      const nginx = tree(hostPid('bench-d-nginx-nk'));
      return { servers: [...nginx, hostPid('bench-d-up1'), hostPid('bench-d-up2')], extra: nginx, extraLabel: 'nginx' };
    },
  },
  {
    id: 'host',
    label: "(vi) the tool's pod of 2, `--mode host`",
    async start(port) {
      execFileSync(process.execPath, [`${repo}dist/src/cli/main.js`, 'create', 'bench-d-host', '--mode', 'host', '--port', `127.0.0.1:${port}`, '--replicas', '2', '--quiet', '--monitor', '0'], { stdio: ['ignore', 'ignore', 'inherit'] });
      return { servers: ['bench-d-host-1', 'bench-d-host-2', 'bench-d-host-sandbox'].map(hostPid) };
    },
  },
  {
    id: 'plain',
    label: '(vii) 2 plain SO_REUSEPORT processes on the host',
    async start(port) {
      for (const i of [1, 2]) {
        const env = { ...process.env, PORT: String(port), HOST: '127.0.0.1', INSTANCE: `bench-d-plain-${i}` };
        const child = spawn(process.execPath, [`${repo}dist/examples/http-server.js`], { env, stdio: 'ignore' });
        plain.add(child);
      }
      await waitHttp(port);
      // Both must listen before the spread is read: each logs nothing here, so ask the kernel.
      const until = Date.now() + 10_000;
      while (Date.now() < until && [...plain].some((c) => c.exitCode === null && !listening(c.pid, port))) await delay(50);
      return { servers: [...plain].map((c) => c.pid) };
    },
  },
];
const modes = ['keep-alive', 'close'];

/** True when process `pid` holds a LISTEN socket on `port` (its fds against /proc/net/tcp). */
function listening(pid, port) {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set();
  for (const row of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = row.trim().split(/\s+/);
    if (f[3] === '0A' && f[1]?.endsWith(`:${hex}`)) inodes.add(f[9]);
  }
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? '');
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}
const FOREIGN_MAX = Number(flag('foreign-max', 0.25)); // cores other processes may use during a quiet run
const MIN_QUIET = 2;
const budgetS = Number(flag('budget', 420)); // seconds of load at most, extra rounds included

// ---- main --------------------------------------------------------------------------------------
async function main() {
  if (restartProxy !== undefined) {
    const r = await restartDockerd(restartProxy);
    if (dryRun) return;
    say(`dockerd now runs with the userland proxy ${r.to}`);
  }
  const { running, mode, dockerdArgs, nginxImage } = await startConfigs({ repo, images: [APP, PAUSE], cleanup, prefix: 'bench-d', configs, basePort, say });

  const loadBefore = os.loadavg()[0];
  const { runs, pool, allQuiet, noisy, quietNote, pairs, started } = await measureRounds({
    running, modes, rounds, duration, warmup, budgetS, foreignMax: FOREIGN_MAX, minQuiet: MIN_QUIET, connections, children, say,
  });
  const elapsed = (Date.now() - started) / 1000;
  const loadAfter = os.loadavg()[0];

  // ---- tables ----
  const { rows, get } = resultRows(modes, running, pool);
  const checks = [];
  const check = (ok, text) => checks.push(`- ${ok ? '✅ met' : '❌ missed'}: ${text}`);
  for (const m of modes) {
    const q = get(m, 'tool').rps / get(m, 'hand').rps;
    check(q >= 0.97, `${m}: tool's pod req/s / hand-made pod = ${q.toFixed(2)}× (target ≥ 0.97×)`);
  }
  for (const m of modes) {
    const q = get(m, 'tool').total / get(m, 'single').total;
    check(q <= 1.1, `${m}: pod CPU per request / single container = ${q.toFixed(2)}× (target ≤ 1.10×; server + docker-proxy CPU)`);
  }
  for (const m of modes) {
    const q = get(m, 'tool').total / get(m, 'nginx').total;
    const target = m === 'keep-alive';
    (target ? check : (ok, text) => checks.push(`- (no target) ${text}`))(q <= 0.45, `${m}: pod CPU per request / nginx in front = ${q.toFixed(2)}×${target ? ' (target ≤ 0.45×)' : ''}`);
  }
  for (const m of modes) {
    checks.push(`- (no target) ${m}: pod CPU per request / nginx without upstream keep-alive = ${(get(m, 'tool').total / get(m, 'nginx-nk').total).toFixed(2)}×`);
  }
  {
    const n = get('keep-alive', 'nginx');
    const t = get('keep-alive', 'tool');
    checks.push(
      `- keep-alive, where the CPU goes: the pod's 2 replicas ${t.server.toFixed(2)} CPU-s/100k; behind nginx, the 2 replicas ${(n.server - n.extra).toFixed(2)} and nginx itself ${n.extra.toFixed(2)} ` +
        `(with upstream keep-alive nginx costs about what a replica does per request; without it, (v), nginx ${get('keep-alive', 'nginx-nk').extra.toFixed(2)} and the replicas ${(get('keep-alive', 'nginx-nk').server - get('keep-alive', 'nginx-nk').extra).toFixed(2)}, as every request is a new upstream connection)`,
    );
  }
  for (const m of modes) {
    const qh = get(m, 'host').rps / get(m, 'plain').rps;
    check(qh >= 0.97, `${m}: host-mode pod req/s / 2 plain SO_REUSEPORT processes = ${qh.toFixed(2)}× (target ≥ 0.97×)`);
    checks.push(`- (no target) ${m}: what the namespace and the published port cost: default pod / host-mode pod = ${(get(m, 'tool').rps / get(m, 'host').rps).toFixed(2)}× req/s, ${(get(m, 'tool').total / get(m, 'host').total).toFixed(2)}× CPU per request`);
  }
  const q = (m) => (get(m, 'tool').rps / get(m, 'single').rps).toFixed(2);
  const qn = (m) => (get(m, 'tool').rps / get(m, 'nginx').rps).toFixed(2);
  checks.push(`- req/s, pod / single container: ${q('keep-alive')}× keep-alive, ${q('close')}× close; pod / nginx in front: ${qn('keep-alive')}× keep-alive, ${qn('close')}× close`);

  // The issue-10 view: the host-mode pod against its limit, and what the default mode's namespace
  // and published port (NAT or docker-proxy) cost next to it.
  const limitRows = [];
  for (const m of modes) {
    const p = get(m, 'plain');
    for (const id of ['host', 'plain', 'tool', 'single']) {
      const s = get(m, id);
      const label = running.find((r) => r.config.id === id).config.label;
      limitRows.push(`| ${m} | ${label} | ${s.rps.toFixed(0)} | ${(s.rps / p.rps).toFixed(2)}× | ${s.total.toFixed(2)} | ${(s.total / p.total).toFixed(2)}× |`);
    }
  }
  const limitTable = `| mode | configuration | req/s (median) | × (vii) req/s | total CPU-s / 100k req | × (vii) CPU per request |\n| --- | --- | ---: | ---: | ---: | ---: |\n${limitRows.join('\n')}`;

  const header =
    '| mode | configuration | req/s median (min–max) | p50 ms | p99 ms | server CPU-s / 100k req | docker-proxy CPU-s / 100k | total CPU-s / 100k | errors |\n| --- | --- | --- | ---: | ---: | --- | --- | ---: | ---: |';
  const used = pairs.flatMap(({ m, id }) => pool(id, m));
  const noise =
    `quiet runs (other processes ≤ ${FOREIGN_MAX} cores during the run) per configuration and mode: ${quietNote}; ` +
    (allQuiet ? 'every figure is from quiet runs only' : `${noisy} pair(s) had fewer than ${MIN_QUIET} quiet runs and use all their runs`) +
    `; in the runs used, other processes took ${median(used.map((x) => x.foreign)).toFixed(2)} cores (median) and wrk ${median(used.map((x) => x.wrkCores)).toFixed(2)} cores (median)`;
  console.log(`\ndockerd: ${dockerdArgs} (userland proxy ${mode})\n\n${header}\n${rows.join('\n')}\n\n${limitTable}\n\n${checks.join('\n')}\n\n${runs.length} runs in ${elapsed.toFixed(0)} s; load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after; ${noise}`);

  // A run on a machine saturated by other work says little: keep it out of the docs.
  const tooNoisy = !allQuiet;
  if (tooNoisy) say(`${noisy} (configuration, mode) pair(s) have fewer than ${MIN_QUIET} quiet runs: NOT writing docs/benchmarks.md (pass --force-docs to write anyway)`);
  if (writeDocs && (!tooNoisy || args.includes('--force-docs'))) {
    const when = new Date().toISOString().replace(/:\d\d\.\d+Z$/, 'Z').replace('T', ' ');
    const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
    const server = docker('version', '-f', '{{.Server.Version}}');
    const wrkVersion = (spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0] || '').replace(/ Copyright.*/, '').trim() || 'wrk';
    const other = mode === 'off' ? 'on' : 'off';
    const otherHeading = sectionHeading(other);
    const heading = sectionHeading(mode);
    const spreadLine = running
      .filter((r) => r.config.id !== 'single')
      .map((r) => `${r.config.id}: ${[...r.spread].map(([k, v]) => `${k} ${v}`).join(', ')}`)
      .join('; ');
    const body = `
Measured ${when} on ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}, Docker Engine ${server}, ${wrkVersion}.
Command: \`npm run build && ${command}\` (${rounds} interleaved rounds + extra runs where needed, ${runs.length} runs, ${elapsed.toFixed(0)} s; 1-minute load average ${loadBefore.toFixed(2)} before and ${loadAfter.toFixed(2)} after). Other people's tests share these 2 cores in bursts: each run first waits up to 10 s for the CPU to be at most 35 % busy, and a run counts as quiet when other processes used at most ${FOREIGN_MAX} cores during it (the machine's process CPU from /proc/stat minus the servers', docker-proxy's and wrk's); the figures are medians of the quiet runs: ${noise}.

${tooNoisy ? `**A noisy run, written with --force-docs:** ${noisy} of ${pairs.length} (configuration, mode) pairs had fewer than ${MIN_QUIET} quiet runs, so their figures are medians of all their runs, taken while other processes used ${median(used.map((x) => x.foreign)).toFixed(2)} of the ${os.cpus().length} cores (median). On such a machine req/s says more about how the kernel shares the CPU between wrk, the servers and everyone else than about the data path; CPU per request is the steadier figure. Re-run on a quiet machine before drawing conclusions from req/s.\n\n` : ''}**dockerd's userland proxy: ${mode.toUpperCase()}** (\`${dockerdArgs}\`${mode === 'off' ? '; no docker-proxy process exists for the published ports: loopback traffic is DNAT\'d by iptables' : '; loopback traffic goes through docker-proxy, whose CPU is shown in its own column'}). These figures are for that mode only; the other mode's are in "${otherHeading.slice(3)}". To measure the other one (this restarts dockerd, which stops every container on it, other people's included, so only on a machine you have to yourself):
\`node bench/datapath.mjs --restart-dockerd-with-proxy=${other}\` (\`--dry-run\` shows what it would do).

Load: \`wrk -t1 -c${connections} -d${duration}s --latency http://127.0.0.1:H/\`, keep-alive, and \`Connection: close\` (one connection per request; \`-s bench/datapath-close.lua\` sets the header). ${warmup} s of warm-up before each measured run; configurations interleaved, order rotated each round; medians. wrk runs with one thread on this 2-core machine and its CPU is measured (see above): the servers share what it leaves, which caps what a second replica can add.
Server CPU: utime+stime from /proc/<pid>/stat of the server processes (host PIDs from \`docker inspect -f '{{.State.Pid}}'\`): the node replicas, plus the pod's pause (idle), plus nginx's master+worker for (iv) and (v) (nginx's own share in brackets); docker-proxy, when present, is found by its \`-host-port\` argument. CPU the kernel spends in softirq for NAT and loopback is charged to whichever process it interrupts, wrk included, so it is only partly counted.
Configurations: (i) \`docker run -p 127.0.0.1:H:8080 reuseport-pod/example:0.1.0\`; (ii) \`node dist/src/cli/main.js create bench-d-tool --port 127.0.0.1:H:8080 --replicas 2\`; (iii) the same pod by hand: \`docker run -p 127.0.0.1:H:8080 reuseport-pod/pause:0.1.0\` + 2 × \`docker run --network container:bench-d-hand-sandbox reuseport-pod/example:0.1.0\`, with the tool's container options; (iv) \`bench/nginx/build-image.sh\` (Debian's nginx ${nginxImage.split(':')[1]} binary + its \`ldd\` libraries, no registry) with \`bench/nginx/nginx.conf\`: \`worker_processes 1\`, access log off, \`upstream\` of the 2 replica containers by name on the user-defined bridge network ${NET}, HTTP/1.1 keep-alive to them (\`keepalive 64\`), published with \`-p 127.0.0.1:H:8080\`; (v) the same nginx with \`bench/nginx/nginx-no-upstream-keepalive.conf\` (nginx's default proxying: HTTP/1.0 and a new connection to a replica for every request), in front of the same two replicas; (vi) \`node dist/src/cli/main.js create bench-d-host --mode host --port 127.0.0.1:H --replicas 2\`; (vii) 2 × \`PORT=H HOST=127.0.0.1 node dist/examples/http-server.js\` on the host.
Spread of 24 new connections before the load: ${spreadLine}.

${header}
${rows.join('\n')}

The host-mode pod against its limit, 2 plain SO_REUSEPORT processes on the host, and what the default mode's namespace and published port (${mode === 'off' ? 'iptables DNAT' : 'docker-proxy'}) cost next to it (medians from the table above; total CPU includes docker-proxy's):

${limitTable}

${checks.join('\n')}
`;
    writeSection(`${repo}docs/benchmarks.md`, heading, body);
    say(`wrote the "${heading}" section of docs/benchmarks.md`);
  }
}

try {
  await main();
} catch (err) {
  process.exitCode = 1;
  say(err.message);
} finally {
  if (!interrupted && !(restartProxy !== undefined && dryRun)) {
    const n = cleanup();
    if (n) say(`removed ${n} bench-d object(s)`);
  }
}
