// What a failed create, scale or rollout tells the user (issue 14), against the real engine with
// real images: those operations undo what they made, so the message itself must carry what the
// replicas logged (`reuseport-pod logs` would find no pod), name the ones that did not listen, give
// the exit code of one the restart policy keeps restarting, and tell a user mismatch from a
// missing SO_REUSEPORT.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { cli, ownPods, podContainers, ps, requireEngine, spread } from './helpers/cli.ts';
import { docker, ensureImages, exampleImage, pauseImage, TEST_LABEL } from './helpers/docker.ts';
import { freePort } from './helpers/http-client.ts';

const NOT_READY = 6;

if (await requireEngine(t)) {
  await ensureImages('pause', 'node-base', 'example', 'nat');
  const tag = randomBytes(4).toString('hex');
  // The example app, told to listen on 9090 whatever $PORT says: an image built for another port.
  const wrongPort = `reuseport-pod/test-wrong-port:${tag}`;
  // The example app as root: the pod's replicas run it as uid 1000.
  const asRoot = `reuseport-pod/test-as-root:${tag}`;
  const build = async (image: string, dockerfile: string): Promise<void> => {
    const dir = mkdtempSync(join(tmpdir(), 'reuseport-pod-image-'));
    try {
      writeFileSync(join(dir, 'Dockerfile'), dockerfile);
      await docker('build', '-q', '--label', TEST_LABEL, '-t', image, dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  await build(wrongPort, `FROM ${exampleImage}\nCMD ["node", "-e", "process.env.PORT = '9090'; import('/app/dist/examples/http-server.js')"]\n`);
  await build(asRoot, `FROM ${exampleImage}\nUSER root\n`);
  t.teardown(async () => {
    await docker('rmi', '-f', wrongPort, asRoot).catch(() => undefined);
  });

  t.test('a replica the restart policy keeps restarting: its exit code is said', async (t) => {
    const pod = 'e2e-msg-exit';
    await ownPods(t, [pod]);
    // The example exits 2 on a bad environment.
    const r = await cli(['create', pod, '--port', `127.0.0.1:${await freePort()}:8080`, '--env', 'HOST=not-an-address', '--wait-timeout', '30']);
    t.equal(r.code, NOT_READY, 'exit 6');
    t.match(r.stderr, new RegExp(`replica ${pod}-1 exited with code 2 before it was listening; its last log lines:\\n\\s+.*HOST must be a literal`), 'with the code and the log');
    t.same(await podContainers(pod), [], 'nothing left');
  });

  t.test('a create whose replicas never listen names them and quotes their logs, not `logs`', async (t) => {
    const pod = 'e2e-msg-idle';
    await ownPods(t, [pod]);
    // The sandbox's pause program runs and never listens.
    const r = await cli(['create', pod, '--port', `127.0.0.1:${await freePort()}:8080`, '--replicas', '2', '--image', pauseImage, '--wait-timeout', '2']);
    t.equal(r.code, NOT_READY, 'exit 6');
    t.match(r.stderr, new RegExp(`only 0 of 2 listeners came up on port 8080 within 2 s: ${pod}-1 and ${pod}-2 are not listening\\n  ${pod}-1 logged nothing\\n  ${pod}-2 logged nothing\\n`), 'names both, says what they logged');
    t.match(r.stderr, /slow to start\? give it a longer --wait-timeout/, 'and what to try');
    t.notMatch(r.stderr, /reuseport-pod logs/, 'does not point at logs of a pod about to be removed');
    t.same(await podContainers(pod), [], 'nothing left');
  });

  t.test('a create of an image that listens on another port quotes where it listens', async (t) => {
    const pod = 'e2e-msg-port';
    await ownPods(t, [pod]);
    const r = await cli(['create', pod, '--port', `127.0.0.1:${await freePort()}:8080`, '--replicas', '2', '--image', wrongPort, '--wait-timeout', '3']);
    t.equal(r.code, NOT_READY, 'exit 6');
    t.match(r.stderr, new RegExp(`${pod}-1 and ${pod}-2 are not listening`), 'names both');
    t.match(r.stderr, new RegExp(`${pod}-1's last log lines:\\n\\s+${pod}-1 listening on 0\\.0\\.0\\.0:9090`), "quotes replica 1's line");
    t.same(await podContainers(pod), [], 'nothing left');
  });

  t.test('a rollout to an image that listens on another port: the new replica is named and quoted, the old ones serve', async (t) => {
    const pod = 'e2e-msg-roll';
    await ownPods(t, [pod]);
    const port = await freePort();
    const created = await cli(['create', pod, '--port', `127.0.0.1:${port}:8080`, '--replicas', '2', '--quiet']);
    t.equal(created.code, 0, created.stderr);
    const r = await cli(['rollout', pod, '--image', wrongPort, '--wait-timeout', '3']);
    t.equal(r.code, NOT_READY, 'exit 6');
    t.match(r.stderr, new RegExp(`rollout of "${pod}" to ${wrongPort} failed: only 2 of 3 listeners came up on port 8080 within 3 s: ${pod}-3 is not listening\\n`), 'names the new replica only');
    t.match(r.stderr, new RegExp(`rolled back: the pod runs ${exampleImage} again \\(no replica had been replaced\\)`), 'and says the old ones serve');
    t.match(r.stderr, new RegExp(`${pod}-3's last log lines:\\n\\s+${pod}-3 listening on 0\\.0\\.0\\.0:9090`), 'quotes its line');
    t.notMatch(r.stderr, /reuseport-pod logs/, 'does not point at logs');
    t.same((await ps(pod)).map((x) => x.name), [`${pod}-1`, `${pod}-2`], 'the new replica is gone');
    t.same([...(await spread(port, 100)).keys()].sort(), [`Hello from ${pod}-1`, `Hello from ${pod}-2`], 'the old ones serve');
  });

  t.test('a rollout to an image that runs as another user: EADDRINUSE is told as a uid mismatch', async (t) => {
    const pod = 'e2e-msg-uid';
    await ownPods(t, [pod]);
    const port = await freePort();
    const created = await cli(['create', pod, '--port', `127.0.0.1:${port}:8080`, '--replicas', '2', '--quiet']);
    t.equal(created.code, 0, created.stderr);
    const r = await cli(['rollout', pod, '--image', asRoot, '--wait-timeout', '30']);
    t.equal(r.code, NOT_READY, 'exit 6');
    t.match(r.stderr, new RegExp(`replica ${pod}-3 exited with code 1 before it was listening; its last log lines:\\n(\\s+.*\\n)*\\s+.*EADDRINUSE`), 'quotes the EADDRINUSE');
    t.match(r.stderr, /it runs as uid 0, the pod's replicas as uid 1000: the kernel shares a port only among sockets of one effective UID; run it as uid 1000 too \(`USER 1000` in its Dockerfile\)/, 'says whose uid differs, and what to do');
    t.notMatch(r.stderr, /with SO_REUSEPORT\?/, 'instead of suggesting SO_REUSEPORT is missing');
    t.same([...(await spread(port, 100)).keys()].sort(), [`Hello from ${pod}-1`, `Hello from ${pod}-2`], 'the old replicas serve');
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

  t.test('a DNAT pod whose replicas never accept: named and quoted, not `logs`', async (t) => {
    const pod = 'e2e-msg-dnat';
    await ownPods(t, [pod]);
    const r = await cli(['create', pod, '--mode', 'dnat', '--port', `127.0.0.1:${await freePort()}:8080`, '--image', pauseImage, '--wait-timeout', '2']);
    t.equal(r.code, NOT_READY, 'exit 6');
    t.match(r.stderr, new RegExp(`${pod}-1 did not accept connections on port 8080 within 2 s\\n  ${pod}-1 logged nothing\\n`), 'names it, says what it logged');
    t.notMatch(r.stderr, /reuseport-pod logs/, 'does not point at logs');
    t.same(await podContainers(pod), [], 'nothing left');
  });
}
