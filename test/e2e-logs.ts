// logs -f follows the pod, not the replicas it started with (as `docker compose logs -f` follows a
// service): replicas added by scale or rollout join, replaced ones leave after their last line, a
// restarted one goes on without repeating itself, and it ends when the pod is removed or on Ctrl-C.
// The built CLI against the real engine (Docker here; Podman through podman-e2e.ts), real
// containers, and HTTP to 127.0.0.1 at each step. test/process-runtime.ts runs the same steps with
// --runtime process.
import t from 'tap';
import { cli, ownPods, requireEngine } from './helpers/cli.ts';
import { docker, engine, ensureImages } from './helpers/docker.ts';
import { follow, followsThePod } from './helpers/follow.ts';
import { freePort } from './helpers/http-client.ts';

const POD = 'e2e-logs';

t.test('logs -f follows the pod through scale, restart, rollout and rm', async (t) => {
  if (!(await requireEngine(t))) return;
  await ensureImages('pause', 'node-base', 'example');
  await ownPods(t, [POD]);
  const port = await freePort();
  const created = await cli(['create', POD, '--port', `127.0.0.1:${port}:8080`, '--replicas', '2', '--stop-timeout', '3', '-q']);
  t.equal(created.code, 0, `create exits 0 (stderr: ${created.stderr.trim()})`);
  await followsThePod(t, {
    pod: POD,
    port,
    cli: (args) => cli(args),
    env: {},
    restart: async (replica) => void (await docker('restart', '-t', '3', replica)),
    lastLinesOfRemoved: (await engine()) === 'docker',
  });
});

t.test('logs -f of a pod that does not exist: one line, exit 4', async (t) => {
  if (!(await requireEngine(t))) return;
  const f = follow(['logs', 'e2e-logs-none', '-f'], {}, t);
  t.equal(await f.exited(), 4, 'exit 4');
  t.match(f.errText(), /^reuseport-pod: no pod named "e2e-logs-none"; [^\n]+\n$/, 'one line saying what to do');
});
