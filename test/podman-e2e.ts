// The launcher's end-to-end files a second time, unchanged, against Podman's Docker-compatible API
// (scripts/setup-podman.sh starts it): each file runs in its own process with DOCKER_HOST pointing
// at Podman, so the CLI under test and the docker CLI that checks its work both talk to Podman.
//
// e2e-repair.ts checks what each engine really does after a crash of the sandbox's process:
// Docker strands the replicas, Podman keeps the pod's namespace. e2e-dnat.ts runs too (the NAT
// helper, the per-pod network, the host's rules before and after), and e2e-logs.ts (logs -f
// following the pod through Podman's events), and e2e-health.ts (Podman 4.3 without systemd runs no
// health check: it checks that such a check counts as none, and skips the rest), and e2e-options.ts
// (docker run's options on Podman), and e2e-exec.ts (exec's streams, TTY and exit codes through
// Podman's exec API, rollout --undo under load). Left out: e2e-dockerd-restart.ts
// (it restarts dockerd itself).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { cli } from './helpers/cli.ts';

const FILES = ['test/e2e-lifecycle.ts', 'test/e2e-errors.ts', 'test/e2e-concurrency.ts', 'test/e2e-lossless.ts', 'test/e2e-repair.ts', 'test/e2e-dnat.ts', 'test/e2e-host.ts', 'test/e2e-logs.ts', 'test/e2e-options.ts', 'test/e2e-health.ts', 'test/e2e-exec.ts'];
/** Each file's own budget under tap (package.json "timeout"), times the files run here. */
const PER_FILE_MS = 300_000;

const root = fileURLToPath(new URL('..', import.meta.url));
const socket = process.env['REUSEPORT_POD_PODMAN_SOCKET'] || '/run/reuseport-pod/podman.sock';
const dockerHost = `unix://${socket}`;

/** null when Podman answers at the socket, else why not. */
function podmanUnavailable(): Promise<string | null> {
  return new Promise((resolve) => {
    const format = '{{range .Server.Components}}{{.Name}};{{end}}';
    execFile('docker', ['version', '--format', format], { env: { ...process.env, DOCKER_HOST: dockerHost }, timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) resolve(`no engine answers at ${dockerHost} (${(stderr || err.message).trim().split('\n')[0]})`);
      else resolve(/podman/i.test(stdout) ? null : `the engine at ${dockerHost} is not Podman (${stdout.trim()})`);
    });
  });
}

const why = await podmanUnavailable();
if (why !== null) {
  const hint = `${why}: run sudo bash scripts/setup-podman.sh (or set REUSEPORT_POD_PODMAN_SOCKET)`;
  if (process.env['CI'] === 'true') t.fail(hint);
  else t.plan(0, hint);
} else {
  t.setTimeout(FILES.length * PER_FILE_MS + 60_000);
  t.test('info names the engine; --engine-socket wins over DOCKER_HOST', async (t) => {
    const viaSocket = await cli(['--engine-socket', socket, 'info', '--json'], { DOCKER_HOST: 'unix:///nonexistent.sock' });
    t.equal(viaSocket.code, 0, viaSocket.stderr);
    t.match(JSON.parse(viaSocket.stdout), { engine: 'podman', version: /^\d+\.\d+/, apiVersion: /^1\.\d+$/, endpoint: dockerHost });
    const viaEnv = await cli(['info'], { DOCKER_HOST: dockerHost });
    t.match(viaEnv.stdout, new RegExp(`^ENGINE\\s+VERSION\\s+API\\s+ENDPOINT\\npodman\\s+\\S+\\s+1\\.\\d+\\s+${dockerHost}$`, 'm'));
    const down = await cli(['--engine-socket', '/nonexistent/podman.sock', 'info'], { DOCKER_HOST: dockerHost });
    t.equal(down.code, 3, 'an engine socket where nothing answers: exit 3');
    t.match(down.stderr, /^reuseport-pod: cannot reach the container engine at unix:\/\/\/nonexistent\/podman\.sock \(ENOENT\): /);
    t.equal(down.stderr.trim().split('\n').length, 1, 'one line');
    const empty = await cli(['--engine-socket', '', 'info']);
    t.equal(empty.code, 2, 'an empty --engine-socket: usage error');
    t.match(empty.stderr, /^reuseport-pod: --engine-socket needs the path of the engine's unix socket/);
  });
  for (const file of FILES) {
    // process.execArgv carries tap's loader hooks (TypeScript) for this same Node.
    t.spawn(process.execPath, [...process.execArgv, file], { cwd: root, env: { ...process.env, DOCKER_HOST: dockerHost } }, `${file} against Podman (${dockerHost})`);
  }
}
