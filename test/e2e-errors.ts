// Every bad input: a non-zero exit with its meaning, ONE line on stderr that says what to do,
// no stack trace, and nothing left behind.
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import t from 'tap';
import { cli, cliPath, forceRemovePod, podContainers, requireEngine, type CliResult } from './helpers/cli.ts';
import { docker, ensureImages, nodeBaseImage, pauseImage, TestContainers } from './helpers/docker.ts';
import { freePort } from './helpers/http-client.ts';

const USAGE = 2;
const UNREACHABLE = 3;
const NOT_FOUND = 4;
const CONFLICT = 5;
const NOT_READY = 6;

function oneLineError(t: Tap.Test, r: CliResult, code: number, message: RegExp, what: string): void {
  t.equal(r.code, code, `${what}: exit ${code}`);
  t.equal(r.stdout, '', `${what}: nothing on stdout`);
  const lines = r.stderr.trim().split('\n').filter((l) => !/^(Starting|Waiting|Failed|Pulling|Building)/.test(l));
  t.match(lines.at(-1) ?? '', message, `${what}: says why`);
  t.notMatch(r.stderr, /^\s+at /m, `${what}: no stack trace`);
}

t.test('usage errors are caught before the engine is asked', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['create', 'web', '--port', '80'], /^reuseport-pod: --port "80" is not a port mapping; use \[IP:\]HOST:CONTAINER/],
    [['create', 'web', '--port', '80:'], /lacks the container port/],
    [['create', 'web', '--port', ':8080'], /lacks the host port/],
    [['create', 'web', '--port', '0:8080'], /host port 0 is out of range/],
    [['create', 'web', '--port', '70000:8080'], /host port 70000 is out of range; use 1-65535/],
    [['create', 'web', '--port', 'a:b'], /host port "a" is not a number/],
    [['create', 'web', '--port', '80:8080', '--port', '80:9090'], /host port 80 again/],
    [['create', 'web'], /at least one --port/],
    [['create', 'Web', '--port', '80:8080'], /pod name "Web" is not valid/],
    [['create', 'web/x', '--port', '80:8080'], /pod name "web\/x" is not valid/],
    [['create', 'web', '--port', '80:8080', '--replicas', '0'], /--replicas 0 is out of range; use 1-100/],
    [['create', 'web', '--port', '80:8080', '--replicas', '-1'], /--replicas "-1" is not a whole number/],
    [['create', 'web', '--port', '80:8080', '--replicas', '1.5'], /--replicas "1.5" is not a whole number/],
    [['create', 'web', '--port', '80:8080', '--replicas', 'abc'], /--replicas "abc" is not a whole number/],
    [['create', 'web', '--port', '80:8080', '--replicas', '1000'], /--replicas 1000 is out of range/],
    [['create', 'web', '--port', '80:8080', '--env', 'PORT=1'], /--env PORT is set by reuseport-pod/],
    [['create', 'web', '--port', '80:8080', '--bogus'], /unknown option '--bogus'/],
    [['scale', 'web'], /required option '-r, --replicas <n>' not specified/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ];
  // DOCKER_HOST points nowhere: had any of these reached the engine, the exit code would be 3.
  for (const [args, message] of cases) {
    oneLineError(t, await cli(args, { DOCKER_HOST: 'unix:///nonexistent.sock' }), USAGE, message, args.join(' '));
  }
});

t.test('an engine that is down, or a DOCKER_HOST that points nowhere', async (t) => {
  for (const host of ['unix:///nonexistent/docker.sock', 'tcp://127.0.0.1:1']) {
    for (const args of [['ls'], ['create', 'web', '--port', '18099:8080']]) {
      oneLineError(t, await cli(args, { DOCKER_HOST: host }), UNREACHABLE, /cannot reach the container engine at .*: start the engine .* or point DOCKER_HOST at a running one/, `${args[0]} with DOCKER_HOST=${host}`);
    }
  }
  oneLineError(t, await cli(['ls'], { DOCKER_HOST: 'http//x' }), USAGE, /DOCKER_HOST="http\/\/x" is not an engine address/, 'a malformed DOCKER_HOST');
});

t.test('with a real engine', async (t) => {
  if (!(await requireEngine(t))) return;
  await ensureImages('pause', 'node-base', 'example');
  const pods = ['e2e-err-a', 'e2e-err-b', 'e2e-err-c', 'e2e-err-d'];
  for (const p of pods) await forceRemovePod(p);
  t.teardown(async () => {
    for (const p of pods) await forceRemovePod(p);
  });

  t.test('a pod that does not exist', async (t) => {
    for (const args of [['ps', 'e2e-err-none'], ['scale', 'e2e-err-none', '-r', '2'], ['rm', 'e2e-err-none'], ['logs', 'e2e-err-none'], ['inspect', 'e2e-err-none']]) {
      oneLineError(t, await cli(args), NOT_FOUND, /no pod named "e2e-err-none"; `reuseport-pod ls` lists the pods/, args.join(' '));
    }
  });

  t.test('an image that does not exist: nothing is created', async (t) => {
    const port = await freePort();
    const r = await cli(['create', 'e2e-err-a', '--port', `127.0.0.1:${port}:8080`, '--image', 'reuseport-pod/no-such-image:1']);
    oneLineError(t, r, NOT_FOUND, /image reuseport-pod\/no-such-image:1 is not on this engine and could not be pulled \(.+\); build or load it first/, 'missing image');
    t.same(await podContainers('e2e-err-a'), []);
  });

  t.test('a host port already taken by a process: nothing is created', async (t) => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as net.AddressInfo;
    const r = await cli(['create', 'e2e-err-a', '--port', `127.0.0.1:${port}:8080`]);
    oneLineError(t, r, CONFLICT, new RegExp(`host port ${port} .*is already in use`), 'port taken by a process');
    t.same(await podContainers('e2e-err-a'), []);
  });

  t.test('a pod that already exists; a host port taken by another pod', async (t) => {
    const port = await freePort();
    const first = await cli(['create', 'e2e-err-b', '--port', `127.0.0.1:${port}:8080`]);
    t.equal(first.code, 0, first.stderr);
    const again = await cli(['create', 'e2e-err-b', '--port', `127.0.0.1:${await freePort()}:8080`]);
    oneLineError(t, again, CONFLICT, /pod "e2e-err-b" already exists \(1 replica\); use `reuseport-pod scale e2e-err-b/, 'existing pod');
    const samePort = await cli(['create', 'e2e-err-c', '--port', `127.0.0.1:${port}:8080`]);
    oneLineError(t, samePort, CONFLICT, /already in use/, 'port held by another pod');
    t.same(await podContainers('e2e-err-c'), [], 'the failed pod left nothing');
    t.same(await podContainers('e2e-err-b'), ['e2e-err-b-1', 'e2e-err-b-sandbox', 'e2e-err-b-state-g1'], 'the first pod is untouched');
  });

  t.test('replicas that exit instead of listening: create fails half-way and removes what it made', async (t) => {
    // node-base's command is a bare `node`: with no stdin it exits at once.
    const r = await cli(['create', 'e2e-err-d', '--port', `127.0.0.1:${await freePort()}:8080`, '--replicas', '2', '--image', nodeBaseImage, '--wait-timeout', '30']);
    t.equal(r.code, NOT_READY, 'exit 6');
    t.match(r.stderr, /reuseport-pod: replica e2e-err-d-\d exited .*before it was listening/);
    t.match(r.stderr, /Failed; removing what this create made/);
    t.same(await podContainers('e2e-err-d'), []);
  });

  t.test('Ctrl-C during create: exit 130 and nothing left', async (t) => {
    const child = spawn(process.execPath, [cliPath, 'create', 'e2e-err-a', '--port', `127.0.0.1:${await freePort()}:8080`, '--replicas', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        // Interrupt once the sandbox exists, so there is something to undo.
        if (/Starting 3 replicas/.test(stderr)) resolve();
      });
      child.once('exit', () => resolve());
    });
    child.kill('SIGINT');
    t.equal(await exited, 130, 'exit 130');
    t.match(stderr, /Interrupted; removing what this create made/);
    t.same(await podContainers('e2e-err-a'), [], 'nothing left');
  });

  t.test('a container with our name that we did not make is never touched', async (t) => {
    const containers = new TestContainers(t);
    const foreign = await containers.run('--name', 'e2e-err-a-sandbox', pauseImage);
    const r = await cli(['create', 'e2e-err-a', '--port', `127.0.0.1:${await freePort()}:8080`]);
    oneLineError(t, r, CONFLICT, /a container named "e2e-err-a-sandbox" already exists and was not made by reuseport-pod/, 'foreign name');
    t.equal(await docker('inspect', '--format', '{{.State.Running}}', foreign), 'true', 'the foreign container still runs');
    const rm = await cli(['rm', 'e2e-err-a']);
    t.equal(rm.code, NOT_FOUND, 'rm does not see a container without our labels');
    t.equal(await docker('inspect', '--format', '{{.State.Running}}', foreign), 'true', 'and does not remove it');
  });
});
