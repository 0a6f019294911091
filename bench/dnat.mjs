// The DNAT mode's data path against the SO_REUSEPORT pod and nginx in front, 3 replicas of the
// example server each, in the same run:
//   (a) node dist/src/cli/main.js create bench-n-dnat --mode dnat --replicas 3 --env REUSEPORT=0
//   (b) node dist/src/cli/main.js create bench-n-rp --replicas 3              (SO_REUSEPORT)
//   (c) nginx (1 worker, bench/nginx/) in a container in front of 3 replica containers on a
//       user-defined network, HTTP/1.1 keep-alive to them (the config of bench/datapath.mjs's (iv),
//       with a third upstream)
// wrk against 127.0.0.1, keep-alive and `Connection: close`: req/s, p50/p99, CPU seconds per 100k
// requests of the server processes (+ docker-proxy when dockerd's userland proxy is on), measured
// as bench/datapath.mjs does (bench/measure.mjs: interleaved rounds, quiet runs only). Then fairness:
// 3 rounds of 3000 new connections per configuration, answers counted per replica. Not a test: it
// prints tables and refreshes the `## DNAT mode vs SO_REUSEPORT vs nginx` section of docs/benchmarks.md.
//
//   npm run build && scripts/build-images.sh && node bench/dnat.mjs [--rounds 3] [--duration 5] [--warmup 1] [--connections 32] [--port 18960] [--fair 3000] [--foreign-max 0.25] [--budget 300] [--no-docs | --force-docs]
//
// Everything is named bench-n-* and removed at the end, on error and on Ctrl-C.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSection } from './docs-section.mjs';
import { docker, hostPid, measureRounds, tree, waitHttp, startConfigs, resultRows } from './measure.mjs';
import { flag, helpAndExitIfAsked } from './usage.mjs';

helpAndExitIfAsked(import.meta.url);

const repo = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const rounds = Number(flag('rounds', 3));
const duration = Number(flag('duration', 5));
const warmup = Number(flag('warmup', 1));
const connections = Number(flag('connections', 32));
const basePort = Number(flag('port', 18960));
const fairN = Number(flag('fair', 3000));
const FOREIGN_MAX = Number(flag('foreign-max', 0.25));
const budgetS = Number(flag('budget', 300));
const writeDocs = !args.includes('--no-docs');
const command = `node bench/dnat.mjs${args.length ? ` ${args.join(' ')}` : ''}`;
const REPLICAS = 3;
const MIN_QUIET = 2;

const version = JSON.parse(execFileSync('node', ['-p', `JSON.stringify(require('${repo}package.json').version)`], { encoding: 'utf8' }));
const APP = `reuseport-pod/example:${version}`;
const NAT = `reuseport-pod/nat:${version}`;
const PODS = ['bench-n-dnat', 'bench-n-rp'];
const NET = 'bench-n-net';
const UPSTREAMS = Array.from({ length: REPLICAS }, (_, i) => `bench-n-up${i + 1}`);
const NGINX = 'bench-n-nginx';
const say = (line) => process.stderr.write(`dnat: ${line}\n`);
const cli = (...a) => execFileSync(process.execPath, [`${repo}dist/src/cli/main.js`, ...a], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
const children = new Set();
let confDir;

// ---- cleanup: only our own names -----------------------------------------------------------------
function cleanup() {
  for (const c of children) c.kill('SIGKILL');
  let removed = 0;
  for (const pod of PODS) {
    const ids = docker('ps', '-aq', '--filter', `label=io.reuseport-pod.pod=${pod}`).split('\n').filter(Boolean);
    if (ids.length) execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
    removed += ids.length;
  }
  const mine = docker('ps', '-a', '--format', '{{.Names}}').split('\n').filter((n) => n === NGINX || UPSTREAMS.includes(n));
  if (mine.length) execFileSync('docker', ['rm', '-f', ...mine], { stdio: 'ignore' });
  removed += mine.length;
  const nets = docker('network', 'ls', '--format', '{{.Name}}').split('\n');
  for (const n of [NET, ...PODS.map((p) => `${p}-net`)]) {
    if (nets.includes(n)) {
      execFileSync('docker', ['network', 'rm', n], { stdio: 'ignore' });
      removed++;
    }
  }
  if (confDir) rmSync(confDir, { recursive: true, force: true });
  return removed;
}
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    say(`${sig}: removing bench-n-* ...`);
    try {
      say(`removed ${cleanup()} object(s)`);
    } finally {
      process.exit(130);
    }
  });
}

// ---- configurations ---------------------------------------------------------------------------------
const REPLICA_OPTS = ['-e', 'PORT=8080', '--stop-timeout', '10', '--security-opt', 'no-new-privileges', '--restart', 'unless-stopped'];
const LABEL = ['--label', 'io.reuseport-pod.bench=dnat'];
const podPids = (pod) => [...Array.from({ length: REPLICAS }, (_, i) => `${pod}-${i + 1}`), `${pod}-sandbox`].map(hostPid);

function nginxConf() {
  return `worker_processes 1;
user nobody nogroup;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  upstream replicas {
${UPSTREAMS.map((u) => `    server ${u}:8080;`).join('\n')}
    keepalive 64;
  }
  server {
    listen 8080;
    location / {
      proxy_pass http://replicas;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

const configs = [
  {
    id: 'dnat',
    label: `(a) the DNAT pod of ${REPLICAS} (\`--mode dnat\`, REUSEPORT=0)`,
    async start(port) {
      cli('create', 'bench-n-dnat', '--mode', 'dnat', '--port', `127.0.0.1:${port}:8080`, '--replicas', String(REPLICAS), '--env', 'REUSEPORT=0', '--image', APP, '--quiet');
      return { servers: podPids('bench-n-dnat') };
    },
  },
  {
    id: 'reuseport',
    label: `(b) the SO_REUSEPORT pod of ${REPLICAS}`,
    async start(port) {
      cli('create', 'bench-n-rp', '--port', `127.0.0.1:${port}:8080`, '--replicas', String(REPLICAS), '--image', APP, '--quiet');
      return { servers: podPids('bench-n-rp') };
    },
  },
  {
    id: 'nginx',
    label: `(c) nginx (1 worker) → ${REPLICAS} replica containers`,
    async start(port, nginxImage) {
      docker('network', 'create', ...LABEL, NET);
      for (const up of UPSTREAMS) docker('run', '-d', '--name', up, ...LABEL, '--network', NET, '-e', `INSTANCE=${up}`, ...REPLICA_OPTS, APP);
      confDir = mkdtempSync(join(os.tmpdir(), 'bench-n-nginx-'));
      writeFileSync(join(confDir, 'nginx.conf'), nginxConf());
      // nginx resolves the upstream names when it starts: the replicas exist first.
      docker('run', '-d', '--name', NGINX, ...LABEL, '--network', NET, '-p', `127.0.0.1:${port}:8080`, '-v', `${confDir}/nginx.conf:/etc/nginx/bench-n.conf:ro`, nginxImage, '/usr/sbin/nginx', '-c', '/etc/nginx/bench-n.conf', '-g', 'daemon off;');
      await waitHttp(port);
      const nginx = tree(hostPid(NGINX));
      return { servers: [...nginx, ...UPSTREAMS.map(hostPid)], extra: nginx, extraLabel: 'nginx' };
    },
  },
];
const modes = ['keep-alive', 'close'];

// ---- fairness -----------------------------------------------------------------------------------------
/** `n` requests, each on a new connection, `concurrency` at a time: answers per replica. */
async function fairness(port, n, concurrency = 16) {
  const counts = new Map();
  let next = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        try {
          const body = await new Promise((resolve, reject) => {
            const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 5000 }, (res) => {
              let text = '';
              res.on('data', (d) => (text += d)).on('end', () => resolve(text.trim()));
            });
            req.on('error', reject).on('timeout', () => req.destroy(new Error('timeout')));
          });
          const who = /^Hello from (\S+)/.exec(body)?.[1] ?? '?';
          counts.set(who, (counts.get(who) ?? 0) + 1);
        } catch {
          errors++;
        }
      }
    }),
  );
  const values = [...counts.values()];
  return { counts, errors, ratio: values.length === REPLICAS ? Math.max(...values) / Math.min(...values) : Infinity };
}

// ---- main ---------------------------------------------------------------------------------------------
async function main() {
  const { running, mode, dockerdArgs, nginxImage } = await startConfigs({ repo, images: [APP, NAT], cleanup, prefix: 'bench-n', configs, basePort, say });

  const loadBefore = os.loadavg()[0];
  const { runs, pool, allQuiet, noisy, quietNote, pairs, started } = await measureRounds({
    running, modes, rounds, duration, warmup, budgetS, foreignMax: FOREIGN_MAX, minQuiet: MIN_QUIET, connections, children, say,
  });
  const loadTime = (Date.now() - started) / 1000;

  // Fairness: interleaved too, so that a noisy moment hits every configuration alike.
  const fair = new Map(running.map((r) => [r.config.id, []]));
  for (let round = 0; round < 3; round++) {
    for (const r of running) {
      const f = await fairness(r.port, fairN);
      fair.get(r.config.id).push(f);
      say(`fairness round ${round + 1} ${r.config.id.padEnd(9)} ${[...f.counts].sort().map(([k, v]) => `${k} ${v}`).join(', ')}; max/min ${f.ratio.toFixed(3)}${f.errors ? `; ${f.errors} errors` : ''}`);
    }
  }
  const elapsed = (Date.now() - started) / 1000;
  const loadAfter = os.loadavg()[0];

  const { rows, get } = resultRows(modes, running, pool);
  const ratios = modes.map(
    (m) =>
      `- ${m}: DNAT pod / SO_REUSEPORT pod = ${(get(m, 'dnat').rps / get(m, 'reuseport').rps).toFixed(2)}× req/s at ${(get(m, 'dnat').total / get(m, 'reuseport').total).toFixed(2)}× CPU per request; ` +
      `DNAT pod / nginx in front = ${(get(m, 'dnat').rps / get(m, 'nginx').rps).toFixed(2)}× req/s at ${(get(m, 'dnat').total / get(m, 'nginx').total).toFixed(2)}× CPU per request`,
  );
  const fairRows = running.map((r) => {
    const list = fair.get(r.config.id);
    const cells = list.map((f) => `${[...f.counts].sort().map(([, v]) => v).join(' / ')} (${f.ratio.toFixed(3)})`);
    const errors = list.reduce((a, f) => a + f.errors, 0);
    return `| ${r.config.label} | ${cells.join(' | ')} | ${Math.max(...list.map((f) => f.ratio)).toFixed(3)} | ${errors} |`;
  });
  const header =
    '| mode | configuration | req/s median (min–max) | p50 ms | p99 ms | server CPU-s / 100k req | docker-proxy CPU-s / 100k | total CPU-s / 100k | errors |\n| --- | --- | --- | ---: | ---: | --- | --- | ---: | ---: |';
  const fairHeader = `| configuration | round 1: per replica (max/min) | round 2 | round 3 | worst max/min | errors |\n| --- | --- | --- | --- | ---: | ---: |`;
  const used = pairs.flatMap(({ m, id }) => pool(id, m));
  const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const noise =
    `quiet runs (other processes ≤ ${FOREIGN_MAX} cores during the run) per configuration and mode: ${quietNote}; ` +
    (allQuiet ? 'every figure is from quiet runs only' : `${noisy} pair(s) had fewer than ${MIN_QUIET} quiet runs and use all their runs`) +
    `; in the runs used, other processes took ${med(used.map((x) => x.foreign)).toFixed(2)} cores (median) and wrk ${med(used.map((x) => x.wrkCores)).toFixed(2)} cores (median)`;
  console.log(`\ndockerd: ${dockerdArgs} (userland proxy ${mode})\n\n${header}\n${rows.join('\n')}\n\n${ratios.join('\n')}\n\nFairness, ${fairN} new connections per round:\n${fairHeader}\n${fairRows.join('\n')}\n\n${runs.length} wrk runs in ${loadTime.toFixed(0)} s, ${elapsed.toFixed(0)} s in all; ${noise}`);

  if (!allQuiet) say(`${noisy} (configuration, mode) pair(s) have fewer than ${MIN_QUIET} quiet runs: ${args.includes('--force-docs') ? 'writing docs/benchmarks.md anyway (--force-docs), marked indicative' : 'NOT writing docs/benchmarks.md (pass --force-docs to write anyway)'}`);
  if (writeDocs && (allQuiet || args.includes('--force-docs'))) {
    const when = new Date().toISOString().replace(/:\d\d\.\d+Z$/, 'Z').replace('T', ' ');
    const body = `
Measured ${when} on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, Linux ${os.release()}, Node ${process.version}, Docker Engine ${docker('version', '-f', '{{.Server.Version}}')}, dockerd's userland proxy **${mode.toUpperCase()}** (\`${dockerdArgs}\`).
Command: \`npm run build && scripts/build-images.sh && ${command}\` (${rounds} interleaved rounds + extra runs where needed, ${runs.length} wrk runs; 1-minute load average ${loadBefore.toFixed(2)} before and ${loadAfter.toFixed(2)} after; ${noise}${allQuiet ? '' : '; written with --force-docs: treat as indicative'}).
Method as in "Data path through Docker" (bench/measure.mjs): \`wrk -t1 -c${connections} -d${duration}s\` keep-alive and \`Connection: close\`, CPU of the server processes from /proc (the replicas and the pod's pause; nginx's master+worker for (c), its own share in brackets) and of docker-proxy. The DNAT hop is kernel work (conntrack + NAT in the sandbox's namespace, softirq): it is charged to whichever process it interrupts, so it shows mostly as lower req/s and only partly as server CPU.
Configurations, ${REPLICAS} replicas of \`${APP}\` each: (a) \`create bench-n-dnat --mode dnat --replicas ${REPLICAS} --env REUSEPORT=0\` (each replica in its own namespace, plain \`listen\`, NAT rules in the sandbox); (b) \`create bench-n-rp --replicas ${REPLICAS}\` (SO_REUSEPORT in the sandbox's namespace); (c) nginx ${nginxImage.split(':')[1]} (\`bench/nginx/build-image.sh\`), 1 worker, \`upstream\` of the ${REPLICAS} replica containers with \`keepalive 64\`, published with \`-p 127.0.0.1:H:8080\`.

${header}
${rows.join('\n')}

${ratios.join('\n')}

Fairness: 3 rounds × ${fairN} new connections (one request each, 16 at a time) per configuration, answers per replica (replica 1 / 2 / 3) and max/min:

${fairHeader}
${fairRows.join('\n')}

The DNAT rules pick a replica at random per connection (\`-m statistic --mode random\`, 1/3, 1/2, 1): over ${fairN} connections one replica's share has a standard deviation of about √(${fairN}·⅓·⅔) ≈ ${Math.sqrt(fairN / 3 * 2 / 3).toFixed(0)}, the same as the SO_REUSEPORT hash; nginx's round robin is exact.
`;
    writeSection(`${repo}docs/benchmarks.md`, '## DNAT mode vs SO_REUSEPORT vs nginx', body);
    say('wrote the "## DNAT mode vs SO_REUSEPORT vs nginx" section of docs/benchmarks.md');
  }
}

try {
  await main();
} catch (err) {
  process.exitCode = 1;
  say(err.message);
} finally {
  if (!interrupted) {
    const n = cleanup();
    if (n) say(`removed ${n} bench-n object(s)`);
  }
}
