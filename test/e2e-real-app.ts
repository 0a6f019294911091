// The README's "A real app next to its database", for real: a Redis container (scripts/build-redis-image.sh,
// from Debian's .debs) with a password on a user network, and a pod of 3 replicas of
// examples/counter-app.ts that reach it by name, read their greeting from a bind-mounted config file
// and the password from an env file (the same file Redis read it from), and count visits in it.
//   - every replica answers, and the count is ONE number: strictly increasing across replicas for
//     sequential requests, and no number given twice under concurrency (Redis's INCR, not per-process
//     state); Redis itself holds the total;
//   - a rollout to another config file changes the greeting of every replica, the count goes on;
//   - Redis restarts: the replicas connect and authenticate again, and the saved count goes on;
//   - a replica drains and exits 0 on SIGTERM;
//   - a wrong password: the replicas never listen, create fails non-zero with the app's one line
//     (WRONGPASS), and nothing of that pod is left.
// Then the README's section itself, every command run and its output compared with the README's.
import t from 'tap';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, forceRemovePod, ownPods, podContainers, requireEngine } from './helpers/cli.ts';
import { docker, ensureImages, nodeBaseImage, repoRoot, TEST_LABEL, TestContainers } from './helpers/docker.ts';
import { freePort, getNewConnection, pooled } from './helpers/http-client.ts';
import { readmeCommands, readmeSection } from './helpers/readme-commands.ts';

const POD = 'e2e-realapp';
const BAD = 'e2e-realapp-badpw';
const NET = 'e2e-realapp-net';
const DB = 'e2e-realapp-redis';
// A tag of its own for the app image this checkout builds, with the same `build` and the same
// layers as reuseport-pod/example: other checkouts on this engine rebuild that shared tag from their
// own trees (which may not have counter-app.js yet) while this test runs.
const APP_IMAGE = 'reuseport-pod/example:e2e-realapp';

interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

function script(path: string): Promise<ScriptResult> {
  return new Promise((resolve) => {
    execFile('bash', [`${repoRoot}${path}`], { cwd: repoRoot, timeout: 300_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0, stdout, stderr });
    });
  });
}

/** "<greeting> from <replica>: <n> visit(s)" -> its parts; undefined for anything else. */
function parseAnswer(body: string): { greeting: string; replica: string; n: number } | undefined {
  const m = /^(.+) from (\S+): (\d+) visits?\n$/.exec(body);
  return m ? { greeting: m[1]!, replica: m[2]!, n: Number(m[3]) } : undefined;
}

async function visit(port: number): Promise<{ greeting: string; replica: string; n: number } | string> {
  const r = await getNewConnection(port).catch((err: Error) => ({ status: 0, body: `error: ${err.message}` }));
  return (r.status === 200 && parseAnswer(r.body)) || `${r.status} ${JSON.stringify(r.body)}`;
}

async function redisCli(password: string, ...args: string[]): Promise<string> {
  // REDISCLI_AUTH keeps the password off redis-cli's command line.
  return docker('exec', '-e', `REDISCLI_AUTH=${password}`, DB, 'redis-cli', ...args);
}

t.test('a real app next to its database', async (t) => {
  if (!(await requireEngine(t))) return;
  const built = await script('scripts/build-redis-image.sh');
  if (built.code !== 0) {
    // The one reason to skip: no apt sources to download Debian's redis from (not a Debian/Ubuntu
    // host). CI installs everything with apt, so there it must work.
    const why = `scripts/build-redis-image.sh failed: ${built.stderr.trim().split('\n').pop()}`;
    if (/apt-get download .* failed/.test(built.stderr) && process.env['CI'] !== 'true') t.skip(why);
    else t.fail(why);
    return;
  }
  const redisImage = built.stdout.trim().split('\n').pop()!;
  t.match(redisImage, /^reuseport-pod\/redis:\d+\.\d+\.\d+$/, 'the script names the image it made');

  await ensureImages('pause', 'node-base', 'example');
  // `build`, as scripts/build-app-image.sh makes the shared tag: the layer cache makes it the same
  // image when both come from the same tree (about 1 s).
  const app = await cli(['build', '--tag', APP_IMAGE, '--base-image', nodeBaseImage, '--quiet'], {}, 300_000);
  if (app.code !== 0) throw new Error(`reuseport-pod build --tag ${APP_IMAGE} failed (${app.code}): ${app.stderr}`);
  t.teardown(() => docker('rmi', APP_IMAGE).then(() => undefined, () => undefined));
  await ownPods(t, [POD, BAD]);

  const dir = mkdtempSync(join(tmpdir(), 'e2e-realapp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const password = randomBytes(12).toString('base64url');
  // Greetings made per run: an answer carrying one can only have come from the mounted file.
  const greeting = `Hello ${randomBytes(3).toString('hex')}`;
  const greeting2 = `Hi again ${randomBytes(3).toString('hex')}`;
  const secrets = join(dir, 'secrets.env');
  writeFileSync(secrets, `# read by redis (requirepass) and by every replica\nREDIS_PASSWORD=${password}\n`);
  writeFileSync(join(dir, 'counter.json'), JSON.stringify({ greeting, redis: { host: DB, port: 6379 } }));
  writeFileSync(join(dir, 'counter-v2.json'), JSON.stringify({ greeting: greeting2, redis: { host: DB, port: 6379 } }));
  writeFileSync(join(dir, 'wrong.env'), 'REDIS_PASSWORD=not-the-password\n');

  const containers = new TestContainers(t);
  await docker('rm', '-f', DB).catch(() => undefined);
  await docker('network', 'rm', NET).catch(() => undefined);
  await docker('network', 'create', '--label', TEST_LABEL, NET);
  // The pods' sandboxes and redis go first (a network with a container on it cannot be removed),
  // whatever order tap runs the teardowns in.
  t.teardown(async () => {
    for (const pod of [POD, BAD]) await forceRemovePod(pod);
    await docker('rm', '-f', DB).catch(() => undefined);
    await docker('network', 'rm', NET).catch(() => undefined);
  });
  await containers.run('--name', DB, '--network', NET, '--env-file', secrets, redisImage);

  let pong = '';
  for (let i = 0; i < 50 && pong !== 'PONG'; i++) {
    pong = await redisCli(password, 'ping').catch(() => '');
    if (pong !== 'PONG') await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(pong, 'PONG', 'redis answers with the password from the env file');
  const noPassword = await docker('exec', DB, 'redis-cli', 'incr', 'visits').catch((e: Error) => e.message);
  t.match(noPassword, /NOAUTH/, 'and refuses a client without it (requirepass is in force)');

  const port = await freePort();
  const created = await cli([
    'create', POD, '--image', APP_IMAGE, '--port', `127.0.0.1:${port}:8080`, '--replicas', '3', '--monitor', '1',
    '--network', NET, '--env-file', secrets, '-v', `${join(dir, 'counter.json')}:/etc/counter/config.json:ro`, '--memory', '128m',
    '--', 'node', 'dist/examples/counter-app.js',
  ]);
  t.equal(created.code, 0, `create exits 0: ${created.stderr}`);
  if (created.code !== 0) return;
  const replicas = ['1', '2', '3'].map((n) => `${POD}-${n}`);

  t.test('every replica answers; one count, strictly increasing across replicas', async (t) => {
    const answers = [];
    // One after the other, each on a new connection (the kernel picks the replica per connection):
    // each INCR is done before the next request starts, so one shared counter gives 1, 2, 3, ...
    for (let i = 0; i < 90; i++) answers.push(await visit(port));
    const bad = answers.filter((a) => typeof a === 'string');
    t.same(bad, [], 'every answer is "<greeting> from <replica>: <n> visits"');
    const ok = answers.filter((a) => typeof a !== 'string');
    t.same([...new Set(ok.map((a) => a.replica))].sort(), replicas, 'all 3 replicas answered');
    t.same([...new Set(ok.map((a) => a.greeting))], [greeting], "the greeting is the mounted file's");
    const counts = ok.map((a) => a.n);
    t.ok(counts.every((n, i) => i === 0 || n > counts[i - 1]!), `counts strictly increase across replicas: ${counts.join(' ')}`);
    t.same(counts, Array.from({ length: 90 }, (_, i) => i + 1), 'a fresh database: exactly 1..90, nothing counted twice or lost');

    // Concurrently, 10 at a time: the order is gone, but a shared atomic INCR still never gives a
    // number twice (per-replica counters would).
    const more = await pooled(60, 10, () => visit(port));
    const moreCounts = more.map((a) => (typeof a === 'string' ? a : a.n));
    t.same([...moreCounts].sort((a, b) => Number(a) - Number(b)), Array.from({ length: 60 }, (_, i) => i + 91), 'concurrent visits get 91..150, each once');
    t.equal(await redisCli(password, 'get', 'visits'), '150', 'redis holds the total');
  });

  t.test('a rollout to another config file: the new greeting everywhere, the count goes on', async (t) => {
    const rolled = await cli(['rollout', POD, '-v', `${join(dir, 'counter-v2.json')}:/etc/counter/config.json:ro`, '--monitor', '1']);
    t.equal(rolled.code, 0, `rollout exits 0: ${rolled.stderr}`);
    const answers = [];
    for (let i = 0; i < 30; i++) answers.push(await visit(port));
    const ok = answers.filter((a) => typeof a !== 'string');
    t.equal(ok.length, 30, `every answer parses: ${JSON.stringify(answers.filter((a) => typeof a === 'string'))}`);
    t.same([...new Set(ok.map((a) => a.greeting))], [greeting2], 'every replica reads the new file');
    t.equal(new Set(ok.map((a) => a.replica)).size, 3, 'from 3 replicas');
    t.same(ok.map((a) => a.n), Array.from({ length: 30 }, (_, i) => i + 151), 'the count goes on from 150: the database outlives the replicas');
  });

  t.test('redis restarts: the replicas connect and authenticate again, the count survives', async (t) => {
    // The entrypoint execs redis-server, so docker's SIGTERM reaches redis, which saves to /data
    // and exits; the same container starts again with the same data and password.
    const before = Number(await redisCli(password, 'get', 'visits'));
    await docker('restart', '-t', '10', DB);
    const answers: ({ n: number } | string)[] = [];
    // Each replica finds its connection closed at its next request: that one may fail (503) while
    // redis starts; the next connects again. Wait for an answer, then ask every replica.
    for (let i = 0; i < 50; i++) {
      const a = await visit(port);
      if (typeof a !== 'string') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let i = 0; i < 30; i++) answers.push(await visit(port));
    const ok = answers.filter((a): a is { greeting: string; replica: string; n: number } => typeof a !== 'string');
    t.ok(ok.length >= 27, `at most one failed answer per replica after the restart (${JSON.stringify(answers.filter((a) => typeof a === 'string'))})`);
    t.equal(new Set(ok.map((a) => a.replica)).size, 3, 'all 3 replicas answer again');
    t.ok(before > 0 && ok.every((a) => a.n > before), `the count goes on from ${before} (${ok.map((a) => a.n).join(' ')})`);
    t.ok(ok.every((a, i) => i === 0 || a.n > ok[i - 1]!.n), 'and still strictly increases');
  });

  t.test('a replica drains and exits 0 on SIGTERM', async (t) => {
    const [victim] = await podContainers(POD, 'replica');
    await docker('stop', '-t', '10', victim!);
    t.equal(await docker('inspect', '--format', '{{.State.ExitCode}}', victim!), '0', `${victim} exited 0`);
    t.match(await docker('logs', '--tail', '2', victim!), /stopped after draining/, 'after its drain');
  });

  t.test('a wrong password: create fails with the app\'s line, and leaves nothing', async (t) => {
    const badPort = await freePort();
    const bad = await cli([
      'create', BAD, '--image', APP_IMAGE, '--port', `127.0.0.1:${badPort}:8080`, '--replicas', '3', '--monitor', '1',
      '--network', NET, '--env-file', join(dir, 'wrong.env'), '-v', `${join(dir, 'counter.json')}:/etc/counter/config.json:ro`,
      '--', 'node', 'dist/examples/counter-app.js',
    ]);
    t.not(bad.code, 0, 'create exits non-zero');
    t.equal(bad.code, 6, 'with "replicas did not become ready" (6)');
    t.match(bad.stderr, /exited with code 1 before it was listening/, 'the replica exited before it listened');
    t.match(bad.stderr, new RegExp(`counter-app: ${BAD}-\\d: redis at ${DB}:6379 refused the password in REDIS_PASSWORD \\(WRONGPASS`), "the app's own line says why");
    t.same(await podContainers(BAD), [], 'no container of that pod is left');
    const r = await getNewConnection(badPort, '/', 1000).then((x) => `answered ${x.status}`, (e: Error) => e.message);
    t.match(r, /ECONNREFUSED|socket hang up|ECONNRESET/, 'and its port is not published');
  });
});

// The README's section, command by command, as a user would type it, with only the names (so that
// nothing here meets a user's own `web`, `redis` or `shop`) and the ports (80 needs root and may be
// taken) changed; each output must be the one the README shows, up to numbers, ids and order.
const RM = 'e2e-realapp-rm';
const RM_NAMES: [RegExp, string, string][] = [
  // [where the README's name stands in a command, the test's name, the README's name]
  [/(?<![\w/.-])web-wrong(?![\w.-])/g, `${RM}-wrong`, 'web-wrong'],
  [/(?<![\w/.-])web(?![\w.-])/g, RM, 'web'],
  // Not the image reuseport-pod/redis, redis-cli, build-redis-image.sh or the config's "redis" key.
  [/(?<![\w/.-])redis(?![\w.-]|":)/g, `${RM}-redis`, 'redis'],
  [/(?<![\w/.-])shop(?![\w.-])/g, `${RM}-shop`, 'shop'],
  [/(?<![\w/.-])counter-app:1(?![\w.-])/g, `reuseport-pod/example:${RM}`, 'counter-app:1'],
];

/** Numbers, ids and spacing vary from run to run; the words may not. */
function normalize(line: string): string {
  return line
    .replace(/\b[0-9a-f]{12,64}(\.\.\.)?/g, '<id>')
    .replace(/\d+(\.\d+)?/g, 'N')
    .replace(/\bvisits?\b/g, 'visits')
    .replace(/\s+/g, ' ')
    .trim();
}

t.test('the README section "A real app next to its database", run as written (names and ports changed)', async (t) => {
  if (!(await requireEngine(t))) return;
  const readme = readFileSync(`${repoRoot}README.md`, 'utf8');
  const commands = readmeCommands(readmeSection(readme, '### A real app next to its database'));
  t.ok(commands.length >= 15, `the section has its commands (${commands.length})`);
  const [port, port2] = [await freePort(), await freePort()];
  const ports: [RegExp, string, string][] = [
    [/(?<![\d.:])80:8080/g, `127.0.0.1:${port}:8080`, '80:8080'],
    [/(?<![\d.:])8081:8080/g, `127.0.0.1:${port2}:8080`, '8081:8080'],
    [/http:\/\/127\.0\.0\.1\//g, `http://127.0.0.1:${port}/`, 'http://127.0.0.1:80/'],
  ];
  const toTest = (s: string): string => [...RM_NAMES, ...ports].reduce((acc, [re, test]) => acc.replace(re, test), s);
  // Back to the README's names in what the commands print, longest first: e2e-realapp-rm-redis is
  // redis, not web-redis.
  const back = [...RM_NAMES, ...ports].sort((a, b) => b[1].length - a[1].length);
  const toReadme = (s: string): string => back.reduce((acc, [, test, readmeName]) => acc.split(test).join(readmeName), s);

  const cleanup = async (): Promise<void> => {
    await forceRemovePod(RM);
    await forceRemovePod(`${RM}-wrong`);
    await docker('rm', '-f', `${RM}-redis`).catch(() => undefined);
    await docker('network', 'rm', `${RM}-shop`).catch(() => undefined);
  };
  await cleanup();
  t.teardown(async () => {
    await cleanup();
    await docker('rmi', `reuseport-pod/example:${RM}`).catch(() => undefined);
  });
  const work = mkdtempSync(join(tmpdir(), 'e2e-realapp-readme-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));

  // One shell for all of them, as a user's terminal: `cd` carries over, and `$?` is the exit code of
  // the command before (each runs in braces after `(exit $rc)`). Markers split the output.
  const lines = [
    'reuseport-pod() { node "$REPO/bin/reuseport-pod.js" "$@"; }',
    'cd "$REPO"',
    'rc=0',
  ];
  commands.forEach((c, i) => {
    // "In a folder of its own": the README's mkdir happens in a temporary folder here.
    const cmd = toTest(c.command).replace(/^mkdir /, 'cd "$WORK" && mkdir ');
    lines.push(`echo "@@begin ${i}"`, '(exit $rc)', `{ ${cmd}\n} 2>&1`, 'rc=$?', `echo "@@end ${i} $rc"`);
  });
  const out = await new Promise<string>((resolve) => {
    execFile('bash', ['-c', lines.join('\n')], { env: { ...process.env, REPO: repoRoot, WORK: work }, timeout: 280_000, maxBuffer: 16 << 20 }, (_err, stdout) => resolve(stdout));
  });

  commands.forEach((c, i) => {
    const m = new RegExp(`@@begin ${i}\\n([\\s\\S]*?)@@end ${i} (\\d+)\\n`).exec(out);
    if (!m) return void t.fail(`$ ${c.command}: never ran (the ones before it: ${out.slice(-2000)})`);
    const [, printed = '', code] = m;
    // A command the README follows with `echo $?` is meant to fail: that line checks its code.
    if (commands[i + 1]?.command !== 'echo $?') t.equal(code, '0', `$ ${c.command.split('\n')[0]}: exits 0${code === '0' ? '' : `: ${printed}`}`);
    // The image builds say "built" or "up to date", with a pull warning or not, by what this
    // machine built before: their exit code is what counts.
    if (/^(bash scripts\/|reuseport-pod build\b)/.test(c.command)) return;
    const got = toReadme(printed).split('\n').filter((l) => l !== '').map(normalize).sort();
    const want = c.output.map(normalize).sort();
    if (c.elided) t.same(want.filter((l) => !got.includes(l)), [], `$ ${c.command.split('\n')[0]}: prints the lines the README shows (${JSON.stringify(got)})`);
    else t.same(got, want, `$ ${c.command.split('\n')[0]}: prints what the README shows`);
  });
});
