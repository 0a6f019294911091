// What a failed create, scale or rollout tells the user (issue 14), against the real engine with
// real images: those operations undo what they made, so the message itself must carry what the
// replicas logged (`reuseport-pod logs` would find no pod), name the ones that did not listen, give
// the exit code of one the restart policy keeps restarting, and tell a user mismatch from a
// missing SO_REUSEPORT.
import t from 'tap';
import { cli, ownPods, podContainers, requireEngine } from './helpers/cli.ts';
import { ensureImages } from './helpers/docker.ts';
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
}
