#!/usr/bin/env node
// npm run demo: the whole idea in one run. Builds what is missing, creates a pod of 3 replicas on a
// free port of 127.0.0.1, sends 300 requests on new connections and counts who answered, the way
// `for i in $(seq 300); do curl -s ...; done | sort | uniq -c` would.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cliPath = `${root}dist/src/cli/main.js`;
const POD = process.env.DEMO_POD || 'demo';
const REPLICAS = 3;
const REQUESTS = 300;

function cli(...args) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function get(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c) => (body += c)).on('end', () => resolve(body.trim()));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve(`error: ${err.message}`));
  });
}

if (!existsSync(cliPath)) {
  console.error('demo: building the CLI first (npm run build) ...');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
}

const exists = spawnSync(process.execPath, [cliPath, 'inspect', POD], { stdio: 'ignore' });
if (exists.status === 0) {
  console.error(`demo: removing the pod "${POD}" of an earlier demo ...`);
  cli('rm', POD, '--timeout', '2');
}

// Exit 3: no container engine answers. The same demo then runs on local processes, which share
// the host's port with SO_REUSEPORT just as containers share the sandbox's.
const engine = spawnSync(process.execPath, [cliPath, 'ls', '--runtime', 'docker'], { stdio: 'ignore' });
const local = engine.status === 3;
if (local) {
  console.error(`demo: no container engine answers at ${process.env.DOCKER_HOST || 'unix:///var/run/docker.sock'}; running the demo with local processes instead (--runtime process)`);
}

const port = await freePort();
const createArgs = local
  ? ['create', POD, '--runtime', 'process', '--port', `127.0.0.1:${port}:${port}`, '--replicas', String(REPLICAS), '--', process.execPath, `${root}dist/examples/http-server.js`]
  : ['create', POD, '--port', `127.0.0.1:${port}:8080`, '--replicas', String(REPLICAS)];
// Exit 4 with the default image: it is not built yet (the first run on a machine).
const first = spawnSync(process.execPath, [cliPath, ...createArgs.slice(0, 2), '--quiet', ...createArgs.slice(2)], { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
if (first.status === 4 && /reuseport-pod build/.test(first.stderr)) {
  console.error('demo: the example image is not built yet; building it ...');
  cli('build');
  cli(...createArgs);
} else if (first.status !== 0) {
  process.stderr.write(first.stderr);
  process.exit(first.status ?? 1);
}

const counts = new Map();
for (let sent = 0; sent < REQUESTS; ) {
  const batch = Array.from({ length: Math.min(10, REQUESTS - sent) }, () => get(port));
  sent += batch.length;
  for (const body of await Promise.all(batch)) counts.set(body, (counts.get(body) ?? 0) + 1);
}
console.log(`\n${REQUESTS} requests to http://127.0.0.1:${port}/, each on a new connection:`);
for (const [body, n] of [...counts].sort(([a], [b]) => a.localeCompare(b))) console.log(`${String(n).padStart(7)} ${body}`);
console.log(`
One host port, ${REPLICAS} ${local ? 'local processes' : 'containers'} listening on it with SO_REUSEPORT, the kernel spreading connections.
  node dist/src/cli/main.js ps ${POD}          # the replicas
  node dist/src/cli/main.js scale ${POD} -r 5  # more of them
  node dist/src/cli/main.js rm ${POD}          # remove the pod`);
