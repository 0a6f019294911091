// What a failed create, scale or rollout tells the user (issue 14), against the real engine with
// real images: those operations undo what they made, so the message itself must carry what the
// replicas logged (`reuseport-pod logs` would find no pod), name the ones that did not listen, give
// the exit code of one the restart policy keeps restarting, and tell a user mismatch from a
// missing SO_REUSEPORT.
import t from 'tap';
import { cli, ownPods, podContainers, requireEngine, spread } from './helpers/cli.ts';
import { docker, ensureImages } from './helpers/docker.ts';
import { freePort } from './helpers/http-client.ts';

const NOT_READY = 6;

if (await requireEngine(t)) {
  await ensureImages('pause', 'node-base', 'example');
  t.test('a replica the restart policy keeps restarting: its exit code is said', async (t) => {
    const pod = 'e2e-msg-exit';
    await ownPods(t, [pod]);
    // The example exits 2 on a bad environment.
    const r = await cli(['create', pod, '--port', `127.0.0.1:${await freePort()}:8080`, '--env', 'HOST=not-an-address', '--wait-timeout', '30']);
    t.equal(r.code, NOT_READY, 'exit 6');
    t.match(r.stderr, new RegExp(`replica ${pod}-1 exited with code 2 before it was listening; its last log lines:\\n\\s+.*HOST must be a literal`), 'with the code and the log');
    t.same(await podContainers(pod), [], 'nothing left');
  });

  t.test('scale on a pod whose sandbox is gone points at repair, which fixes it', async (t) => {
    const pod = 'e2e-msg-sbx';
    await ownPods(t, [pod]);
    const port = await freePort();
    const created = await cli(['create', pod, '--port', `127.0.0.1:${port}:8080`, '--quiet']);
    t.equal(created.code, 0, created.stderr);
    await docker('rm', '-f', `${pod}-sandbox`);
    const r = await cli(['scale', pod, '--replicas', '2']);
    t.equal(r.code, 1, 'exit 1');
    t.match(r.stderr, new RegExp(`^reuseport-pod: pod "${pod}" has no sandbox; run \`reuseport-pod repair ${pod}\``, 'm'), 'points at repair');
    t.notMatch(r.stderr, /create it again/, 'not at rm and create');
    const repaired = await cli(['repair', pod]);
    t.equal(repaired.code, 0, `repair exits 0 (${repaired.stderr.trim()})`);
    const scaled = await cli(['scale', pod, '--replicas', '2']);
    t.equal(scaled.code, 0, `then scale works (${scaled.stderr.trim()})`);
    t.same([...(await spread(port, 100)).keys()].sort(), [`Hello from ${pod}-1`, `Hello from ${pod}-2`], 'both replicas serve');
  });
}
