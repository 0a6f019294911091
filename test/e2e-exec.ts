// exec and rollout --undo, end to end: the built CLI against a real engine, checked with the plain
// docker CLI and plain HTTP.
//   - exec runs in the replica it says (a file it writes is in that container and no other, as
//     `docker exec` sees them), the command's exit code is the CLI's, stdout and stderr stay apart,
//     stdin reaches it with -i only, -t gives it a terminal (through `script`, where installed);
//   - every error (no pod, no such replica, no command, a stopped replica, -it without a terminal)
//     is one line with its exit code, and leaves the pod as it was;
//   - rollout --undo under load goes back to the previous image AND env with 0 failed requests, a
//     second --undo goes forward again, --undo on a pod never rolled out fails cleanly;
//   - a process pod (--runtime process): exec runs on the host with the replica's environment and
//     working directory, and refuses -t.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { cli, cliPath, forceRemovePod, ownPods, podContainers, ps, requireEngine, type CliResult } from './helpers/cli.ts';
import { docker, engine, ensureImages, exampleImage, nodeBaseImage, sleep, waitFor } from './helpers/docker.ts';
import { exampleJs } from './helpers/example-process.ts';
import { freePort } from './helpers/http-client.ts';
import { describe, startLoad, type LoadReport } from './helpers/load.ts';

// Three rollouts under load and some forty CLI calls: about 3 minutes on dockerd, more on Podman.
t.setTimeout(600_000);

const PODS = { exec: 't-exec-main', undo: 't-exec-undo', fresh: 't-exec-fresh' };
// A second tag of the example image: a "new image" for rollout without building one.
const V2 = 'reuseport-pod/example:t-exec-v2';

/** The CLI with `input` on its stdin (a pipe, never a terminal). */
function cliWithInput(args: string[], input: string | Buffer, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => (clearTimeout(timer), resolve({ code: code ?? -1, stdout, stderr })));
  });
}

/** `script` (util-linux) runs the CLI on a pseudo-terminal: the only way to give it a TTY here. */
function hasScript(): Promise<boolean> {
  return new Promise((resolve) => execFile('script', ['--version'], (err) => resolve(!err)));
}

/** Runs `shell` (which calls the CLI as `cli`) on a pseudo-terminal; resolves with its exit code and what the terminal showed. */
function onTerminal(shell: string, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const withCli = `cli() { "$NODE" "$CLI_JS" "$@"; }; ${shell}`;
    // A stdin that stays open while the command runs: script ends the session at its EOF.
    const child = spawn('script', ['-qec', withCli, '/dev/null'], { env: { ...process.env, ...env, NODE: process.execPath, CLI_JS: cliPath }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => (clearTimeout(timer), child.stdin.destroy(), resolve({ code: code ?? -1, stdout, stderr: '' })));
  });
}

const oneLine = (t: Tap.Test, r: CliResult, what: string): void => {
  t.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line on stderr (${JSON.stringify(r.stderr)})`);
  t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
  t.equal(r.stdout, '', `${what}: nothing on stdout`);
};

/** Runs `op` while connection-per-request load runs against the port (warm-up first, a short tail after). */
async function underLoad(port: number, op: () => Promise<CliResult>): Promise<{ result: CliResult; report: LoadReport }> {
  const load = startLoad({ port, mode: 'connection-per-request', concurrency: 6, maxDurationMs: 60_000, maxRequests: 50_000, timeoutMs: 5_000 });
  try {
    await waitFor('the load to warm up', async () => load.completed(), (n) => n >= 50, 10_000);
    const result = await op();
    await sleep(300);
    return { result, report: await load.stop() };
  } finally {
    await load.stop();
  }
}

/** Image, environment and the test's label of each replica, as the engine reports them. */
async function replicaSpecs(pod: string): Promise<Array<{ name: string; image: string; env: string[]; step: string | undefined }>> {
  const names = await podContainers(pod, 'replica');
  return Promise.all(
    names.map(async (name) => {
      const [image, env, labels] = (await docker('inspect', '--format', '{{.Config.Image}}|{{json .Config.Env}}|{{json .Config.Labels}}', name)).split('|');
      const step = (JSON.parse(labels!) as Record<string, string>)['t-exec.step'];
      return { name, image: image!.replace(/^(localhost|docker\.io)\//, ''), env: JSON.parse(env!) as string[], step };
    }),
  );
}

t.test('exec and rollout --undo', async (t) => {
  if (!(await requireEngine(t))) return;
  await ensureImages('pause', 'example');
  await ownPods(t, Object.values(PODS));
  await docker('tag', exampleImage, V2);
  t.teardown(async () => {
    // The tag goes once no container uses it: the pods first (ownPods' own teardown may run later).
    for (const pod of Object.values(PODS)) await forceRemovePod(pod);
    await docker('rmi', V2).catch(() => undefined);
  });

  t.test('exec: the chosen replica, exit codes, streams, stdin, TTY, errors', async (t) => {
    const pod = PODS.exec;
    const port = await freePort();
    const created = await cli(['create', pod, '--port', `127.0.0.1:${port}:8080`, '--replicas', '3', '--quiet']);
    t.equal(created.code, 0, `create (stderr: ${created.stderr.trim()})`);
    const before = await podContainers(pod);

    const first = await cli(['exec', pod, '--', 'sh', '-c', 'echo $INSTANCE']);
    t.same(first, { code: 0, stdout: `${pod}-1\n`, stderr: '' }, 'by default, the lowest-numbered serving replica');

    // The file is in replica 2's filesystem, as the engine itself shows, and in no other replica's.
    const mark = `/tmp/t-exec-${randomBytes(4).toString('hex')}`;
    const second = await cli(['exec', pod, '--replica', '2', '--', 'sh', '-c', `echo $INSTANCE > ${mark}; cat ${mark}`]);
    t.same(second, { code: 0, stdout: `${pod}-2\n`, stderr: '' }, '--replica 2 runs in replica 2');
    t.equal(await docker('exec', `${pod}-2`, 'cat', mark), `${pod}-2`, 'docker exec finds the file in the container of replica 2');
    for (const other of [1, 3]) {
      await t.rejects(docker('exec', `${pod}-${other}`, 'cat', mark), `and not in replica ${other}`);
    }

    for (const code of [0, 1, 7, 255]) {
      const r = await cli(['exec', pod, '--', 'sh', '-c', `exit ${code}`]);
      t.equal(r.code, code, `the command's exit code ${code} is the CLI's`);
      t.equal(r.stderr, '', 'and nothing of our own on stderr');
    }
    const killed = await cli(['exec', pod, '--', 'sh', '-c', 'kill -KILL $$']);
    t.equal(killed.code, 137, 'a command killed by SIGKILL: 128 + 9, as docker exec says');
    const missing = await cli(['exec', pod, '--', 'no-such-program']);
    // Each engine's own code, as its CLI says it: docker exec 126, podman exec 127.
    const notFound = (await engine()) === 'podman' ? 127 : 126;
    t.equal(missing.code, notFound, `a program the image lacks: ${notFound}, as the engine's own exec says`);
    t.match(missing.stdout + missing.stderr, /no-such-program.*not found/, 'with the engine\'s reason');

    const split = await cli(['exec', pod, '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    t.same(split, { code: 3, stdout: 'out\n', stderr: 'err\n' }, 'stdout and stderr stay apart');

    // Bigger than any socket buffer, so that it streams, and ends: cat sees EOF.
    const input = randomBytes(150_000).toString('base64');
    const piped = await cliWithInput(['exec', pod, '-i', '--', 'cat'], input);
    t.equal(piped.code, 0, `exec -i cat exits 0 (stderr: ${piped.stderr.trim()})`);
    t.equal(piped.stdout.length, input.length, 'all of stdin came back');
    t.ok(piped.stdout === input, 'byte for byte');
    const counted = await cliWithInput(['exec', pod, '--replica', '3', '-i', '--', 'sh', '-c', 'read a; read b; echo "$INSTANCE:$b:$a"'], 'one\ntwo\n');
    t.same(counted, { code: 0, stdout: `${pod}-3:two:one\n`, stderr: '' }, 'stdin reaches the command in the chosen replica');
    const closed = await cliWithInput(['exec', pod, '--', 'sh', '-c', 'cat; echo "[end]"'], 'not for you\n');
    t.same(closed, { code: 0, stdout: '[end]\n', stderr: '' }, 'without -i the command gets no stdin (it reads EOF at once)');
    const top = await docker('top', `${pod}-1`, '-o', 'pid,args');
    t.notMatch(top, /\bcat\b/, 'no exec\'d process is left running in the replica');

    const tOnly = await cli(['exec', pod, '-t', '--', 'sh', '-c', 'test -t 1 && echo terminal']);
    t.same(tOnly, { code: 0, stdout: 'terminal\r\n', stderr: '' }, '-t without -i: a TTY for the output, as docker exec -t gives one');
    const noTty = await cliWithInput(['exec', pod, '-it', '--', 'sh'], '');
    t.equal(noTty.code, 2, '-it with stdin not a terminal: usage error');
    t.match(noTty.stderr, /^reuseport-pod: the input device is not a TTY/);
    oneLine(t, noTty, '-it without a terminal');

    if (!(await hasScript())) {
      t.skip('-it on a terminal: `script` (util-linux) is not installed');
    } else {
      const onTty = await onTerminal(`cli exec ${pod} --replica 2 -it -- sh -c 'tty; test -t 0 && echo "in:$INSTANCE"; exit 5'`);
      t.equal(onTty.code, 5, `-it on a terminal: the command's exit code (terminal: ${JSON.stringify(onTty.stdout)})`);
      // Lines end in \r\r\n: the replica's terminal writes \r\n, and Node's raw mode keeps our own
      // terminal's \n -> \r\n (libuv leaves ONLCR on), which shows the same on a screen.
      t.match(onTty.stdout, /\/dev\/pts\/\d+\r+\n/, 'the command has a terminal of its own');
      t.match(onTty.stdout, new RegExp(`in:${pod}-2\r+\n`), 'stdin is that terminal, in replica 2');
      // Before API 1.42 (Docker 20.10, Podman 4) a terminal can only be sized once the command has
      // started: one that asks in its first milliseconds sees 0x0, as with docker exec -t itself.
      const size = await onTerminal(`stty cols 123 rows 45; cli exec ${pod} -it -- sh -c 'sleep 0.5; busybox stty size'`);
      t.equal(size.code, 0, `stty size exits 0 (${JSON.stringify(size.stdout)})`);
      t.match(size.stdout, /^45 123\r*$/m, "the command's terminal has the size of ours");
    }

    // Ctrl-C without a TTY: the CLI lets go (exit 130), as docker exec does; the command is not killed.
    const child = spawn(process.execPath, [cliPath, 'exec', pod, '--replica', '3', '--', 'sleep', '20'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let interruptedErr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (interruptedErr += d));
    const exitedWith = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await waitFor('the command to run in replica 3', () => docker('top', `${pod}-3`, '-o', 'pid,args'), (top) => /sleep 20/.test(top), 15_000);
    child.kill('SIGINT');
    t.equal(await exitedWith, 130, 'Ctrl-C: exit 130');
    t.match(interruptedErr, new RegExp(`let go of the command; it may still be running in ${pod}-3`), 'says the command may still run');
    t.match(await docker('top', `${pod}-3`, '-o', 'pid,args'), /sleep 20/, 'and it does, as after docker exec');

    // Errors: one line each, their exit code, and the pod as it was.
    const errors: Array<[string, string[], number, RegExp]> = [
      ['no such pod', ['exec', 't-exec-nope', '--', 'true'], 4, /^reuseport-pod: no pod named "t-exec-nope"/],
      ['no such replica', ['exec', pod, '--replica', '9', '--', 'true'], 4, new RegExp(`^reuseport-pod: pod "${pod}" has no replica 9; its replicas are 1 \\(${pod}-1, running\\), 2 \\(${pod}-2, running\\), 3 \\(${pod}-3, running\\)`)],
      ['a replica number that is no number', ['exec', pod, '--replica', 'two', '--', 'true'], 2, /^reuseport-pod: --replica "two" is not a whole number/],
      ['no command', ['exec', pod], 2, new RegExp(`^reuseport-pod: no command to run in "${pod}": put it after --`)],
      ['no command after --', ['exec', pod, '--replica', '1', '--'], 2, /^reuseport-pod: no command to run/],
    ];
    for (const [what, args, code, message] of errors) {
      const r = await cli(args);
      t.equal(r.code, code, `${what}: exit ${code}`);
      t.match(r.stderr, message, `${what}: says so`);
      oneLine(t, r, what);
    }

    await docker('stop', '-t', '1', `${pod}-2`);
    const stopped = await cli(['exec', pod, '--replica', '2', '--', 'true']);
    t.equal(stopped.code, 6, 'a stopped replica: exit 6');
    t.match(stopped.stderr, new RegExp(`^reuseport-pod: replica ${pod}-2 is exited, not running; choose a running one \\(--replica 1, 3\\)`));
    oneLine(t, stopped, 'a stopped replica');
    const fallback = await cli(['exec', pod, '--replica', '3', '--', 'sh', '-c', 'echo $INSTANCE']);
    t.same(fallback, { code: 0, stdout: `${pod}-3\n`, stderr: '' }, 'the running ones still take commands');
    await docker('stop', '-t', '1', `${pod}-1`, `${pod}-3`);
    const none = await cli(['exec', pod, '--', 'true']);
    t.equal(none.code, 6, 'no replica running: exit 6');
    t.match(none.stderr, new RegExp(`^reuseport-pod: no replica of pod "${pod}" is running \\(1 \\(${pod}-1, exited\\), 2 .*\\); \`reuseport-pod repair ${pod}\` starts them`));
    oneLine(t, none, 'no replica running');

    t.same(await podContainers(pod), before, 'nothing made, nothing removed: the same containers as after create');
    t.same(await podContainers('t-exec-nope'), [], 'and nothing under the missing pod\'s name');
  });

  t.test('rollout --undo: previous image and env under load with 0 failed, twice goes forward, nothing to undo fails', async (t) => {
    const pod = PODS.undo;
    const port = await freePort();
    const created = await cli(['create', pod, '--port', `127.0.0.1:${port}:8080`, '--replicas', '3', '--env', 'COLOR=blue', '--quiet']);
    t.equal(created.code, 0, `create (stderr: ${created.stderr.trim()})`);

    const noEarlier = await cli(['rollout', pod, '--undo']);
    t.equal(noEarlier.code, 1, '--undo before any rollout: exit 1');
    t.match(noEarlier.stderr, new RegExp(`^reuseport-pod: pod "${pod}" has no earlier spec to go back to`));
    oneLine(t, noEarlier, '--undo with no earlier spec');

    const forward = await cli(['rollout', pod, '--image', V2, '--env', 'COLOR=green', '--env', 'VERSION=2', '--label', 't-exec.step=2', '--quiet']);
    t.equal(forward.code, 0, `rollout to v2 (stderr: ${forward.stderr.trim()})`);
    const v2 = await replicaSpecs(pod);
    t.equal(v2.length, 3);
    for (const r of v2) {
      t.equal(r.image, V2, `${r.name} runs v2`);
      t.ok(r.env.includes('COLOR=green') && r.env.includes('VERSION=2'), `${r.name} has v2's env`);
      t.equal(r.step, '2', `${r.name} has v2's label`);
    }

    for (const [flags, what] of [[['--image', V2], '--image'], [['--env', 'A=1'], '--env'], [['--label', 'a=b'], '--label'], [['--', 'node', 'x.js'], 'the command after --']] as const) {
      const r = await cli(['rollout', pod, '--undo', ...flags]);
      t.equal(r.code, 2, `--undo with ${what}: usage error`);
      t.match(r.stderr, `reuseport-pod: --undo goes back to the previous spec as it was recorded: leave out ${what}`);
      oneLine(t, r, `--undo with ${what}`);
    }
    t.same((await replicaSpecs(pod)).map((r) => r.name), v2.map((r) => r.name), 'the refused undos replaced nothing');

    const back = await underLoad(port, () => cli(['rollout', pod, '--undo', '--json']));
    t.equal(back.result.code, 0, `rollout --undo exits 0 (stderr: ${back.result.stderr.trim()})`);
    t.equal(back.report.failed, 0, `0 failed requests during --undo (${describe(back.report)})`);
    t.ok(back.report.ok > 100, `the load ran (${back.report.ok} answers)`);
    t.match(JSON.parse(back.result.stdout), { name: pod, image: exampleImage, replaced: [{}, {}, {}] }, 'every replica replaced, back on the first image');
    const v1 = await replicaSpecs(pod);
    t.equal(v1.length, 3);
    for (const r of v1) {
      t.equal(r.image, exampleImage, `${r.name} runs the first image again`);
      t.ok(r.env.includes('COLOR=blue'), `${r.name} has the first env again`);
      t.notOk(r.env.some((e) => e.startsWith('VERSION=')), `${r.name} has none of v2's env`);
      t.equal(r.step, undefined, `${r.name} has not v2's label (a replica option goes back too)`);
    }
    t.same((await ps(pod)).map((r) => r.state), ['running', 'running', 'running']);

    const again = await underLoad(port, () => cli(['rollout', pod, '--undo', '--json']));
    t.equal(again.result.code, 0, `a second --undo exits 0 (stderr: ${again.result.stderr.trim()})`);
    t.equal(again.report.failed, 0, `0 failed requests during the second --undo (${describe(again.report)})`);
    const forwardAgain = await replicaSpecs(pod);
    for (const r of forwardAgain) {
      t.equal(r.image, V2, `${r.name} runs v2 again`);
      t.ok(r.env.includes('COLOR=green') && r.env.includes('VERSION=2'), `${r.name} has v2's env again`);
      t.equal(r.step, '2', `${r.name} has v2's label again`);
    }
    const answers = await cli(['exec', pod, '--', 'sh', '-c', 'echo $COLOR $VERSION']);
    t.same(answers, { code: 0, stdout: 'green 2\n', stderr: '' }, 'and exec sees it too');
  });

  t.test('--undo after a rollout that failed and rolled back: back to the spec before, not to the failed one', async (t) => {
    const pod = PODS.fresh;
    const port = await freePort();
    const created = await cli(['create', pod, '--port', `127.0.0.1:${port}:8080`, '--replicas', '2', '--env', 'STEP=1', '--quiet']);
    t.equal(created.code, 0, `create (stderr: ${created.stderr.trim()})`);
    const second = await cli(['rollout', pod, '--env', 'STEP=2', '--quiet']);
    t.equal(second.code, 0, `rollout to STEP=2 (stderr: ${second.stderr.trim()})`);
    // The bare Node image's process exits at once: the rollout fails and rolls back.
    const broken = await cli(['rollout', pod, '--image', nodeBaseImage, '--env', 'STEP=3', '--wait-timeout', '20', '--quiet']);
    if (broken.code === 0) {
      t.fail(`a rollout meant to fail succeeded: the test's way of failing it does not work (${broken.stdout})`);
      return;
    }
    t.match(broken.stderr, /rolled back/, `the failed rollout rolled back (${broken.stderr.trim()})`);
    t.same((await replicaSpecs(pod)).map((r) => r.env.find((e) => e.startsWith('STEP='))), ['STEP=2', 'STEP=2'], 'STEP=2 serves again');
    const undo = await cli(['rollout', pod, '--undo', '--quiet']);
    t.equal(undo.code, 0, `--undo exits 0 (stderr: ${undo.stderr.trim()})`);
    const specs = await replicaSpecs(pod);
    t.same(specs.map((r) => [r.image, r.env.find((e) => e.startsWith('STEP='))]), [[exampleImage, 'STEP=1'], [exampleImage, 'STEP=1']], '--undo went to STEP=1, the spec before the last rollout that took');
  });
});

t.test('exec in a process pod: on this host, with the replica\'s environment and folder; no -t', async (t) => {
  const state = mkdtempSync(join(tmpdir(), 't-exec-state-'));
  const folder = realpathSync(mkdtempSync(join(tmpdir(), 't-exec-cwd-')));
  const env = { XDG_STATE_HOME: state, DOCKER_HOST: 'unix:///nonexistent/docker.sock', REUSEPORT_POD_RUNTIME: '' };
  const pod = 't-exec-proc';
  const port = await freePort();
  t.teardown(async () => {
    await cliIn(['rm', pod, '--quiet'], env, state);
    rmSync(state, { recursive: true, force: true });
    rmSync(folder, { recursive: true, force: true });
  });
  const created = await cliIn(['create', pod, '--runtime', 'process', '--port', `127.0.0.1:${port}`, '--replicas', '2', '--env', 'SECRET=s3', '--quiet', '--', process.execPath, exampleJs], env, folder);
  t.equal(created.code, 0, `create (stderr: ${created.stderr.trim()})`);

  // Run from another folder, with another environment: what the command sees is the replica's.
  const r = await cliIn(['exec', pod, '--replica', '2', '--', 'sh', '-c', 'echo "$INSTANCE $PORT $SECRET"; pwd; exit 4'], { ...env, SECRET: 'not-this' }, tmpdir());
  t.same(r, { code: 4, stdout: `${pod}-2 ${port} s3\n${folder}\n`, stderr: '' }, "the replica's env and folder, and the command's exit code");
  const piped = await cliWithInput(['exec', pod, '-i', '--', 'sh', '-c', 'read a; echo "got $a from $INSTANCE"'], 'hello\n', env);
  t.same(piped, { code: 0, stdout: `got hello from ${pod}-1\n`, stderr: '' }, '-i pipes stdin; the default is the first replica');
  const tty = await cli(['exec', pod, '-t', '--', 'true'], env);
  t.equal(tty.code, 2, '-t: usage error');
  t.match(tty.stderr, /^reuseport-pod: -t: a process replica runs on this host, with no terminal of its own to allocate/);
  oneLine(t, tty, '-t on a process pod');
  const missing = await cli(['exec', pod, '--', 'no-such-program-t-exec'], env);
  t.equal(missing.code, 127, 'a program that is not there: 127, as a shell says');
  t.match(missing.stderr, /no-such-program-t-exec: command not found/);
  const noReplica = await cli(['exec', pod, '--replica', '3', '--', 'true'], env);
  t.equal(noReplica.code, 4, 'no such replica: exit 4');
  t.match(noReplica.stderr, new RegExp(`^reuseport-pod: pod "${pod}" has no replica 3; its replicas are 1 \\(${pod}-1, running\\), 2 \\(${pod}-2, running\\)`));
});

/** The CLI run in `cwd`. */
function cliIn(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env }, cwd, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
