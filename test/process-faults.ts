// Faults a user of `--runtime process` hits (issue 14), each against the built CLI with real child
// processes, real sockets and plain HTTP on loopback; no container engine (DOCKER_HOST points
// nowhere). The state directory is this file's own, so other tests' pods are never seen here.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { cli as runCli, spread, type CliResult } from './helpers/cli.ts';
import { waitFor } from './helpers/docker.ts';
import { exampleJs } from './helpers/example-process.ts';
import { freePort, getNewConnection } from './helpers/http-client.ts';

const state = mkdtempSync(join(tmpdir(), 'reuseport-pod-faults-'));
const containers = join(state, 'reuseport-pod', 'containers');
const env = { XDG_STATE_HOME: state, DOCKER_HOST: 'unix:///nonexistent/docker.sock', REUSEPORT_POD_RUNTIME: '' };
const cli = (args: string[]): Promise<CliResult> => runCli(args, env);
const example = ['--', process.execPath, exampleJs];

interface Run {
  keeperPid: number;
  pid: number;
}

function run(container: string): Run | undefined {
  try {
    return JSON.parse(readFileSync(join(containers, container, 'run.json'), 'utf8')) as Run;
  } catch {
    return undefined;
  }
}

function records(): string[] {
  try {
    return readdirSync(containers).sort();
  } catch {
    return [];
  }
}

/** Gone, or a zombie (it runs no code and holds no socket; some minimal inits never reap). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

function listen(host: string, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nother'));
    server.once('error', reject).listen({ host, port, exclusive: true }, () => resolve(server));
  });
}

const refused = (port: number): Promise<boolean> =>
  getNewConnection(port, '/', 2_000).then(
    () => false,
    (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED',
  );

interface LsRow {
  name: string;
  ports: string[];
  ready: number;
  desired: number;
  state: string;
}

async function lsRow(pod: string): Promise<LsRow | undefined> {
  const r = await cli(['ls', '--runtime', 'process', '--json']);
  if (r.code !== 0) throw new Error(`ls exited ${r.code}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as LsRow[]).find((p) => p.name === pod);
}

async function psStates(pod: string): Promise<string[]> {
  const r = await cli(['ps', pod, '--json']);
  if (r.code !== 0) throw new Error(`ps exited ${r.code}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { replicas: Array<{ state: string }> }).replicas.map((x) => x.state);
}

/** Removes the pod (ignoring "no pod") when the test ends, pass or fail. */
function ownPod(t: Tap.Test, pod: string): void {
  t.teardown(async () => {
    await cli(['rm', pod, '--timeout', '1']);
  });
}

// Whatever a failed test leaves running dies with it.
t.teardown(() => {
  for (const name of records()) {
    const r = run(name);
    for (const pid of [r?.keeperPid, r?.pid]) {
      if (!pid) continue;
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  }
  rmSync(state, { recursive: true, force: true });
});

t.test('--port IP:PORT is how a process pod is published on one address', async (t) => {
  const pod = 'pf-ipport';
  ownPod(t, pod);
  const port = await freePort();
  const created = await cli(['create', pod, '--runtime', 'process', '--port', `127.0.0.1:${port}`, '--quiet', ...example]);
  t.equal(created.code, 0, `create exits 0 (stderr: ${created.stderr.trim()})`);
  t.same((await lsRow(pod))?.ports, [`127.0.0.1:${port}:${port}`], 'ls shows the port on that address');
  t.same([...(await spread(port, 20)).entries()], [[`Hello from ${pod}-1`, 20]], 'the replica answers on 127.0.0.1');

  const mapped = await cli(['create', 'pf-ipport-bad', '--runtime', 'process', '--port', '127.0.0.1:18761:8080', ...example]);
  t.equal(mapped.code, 2, 'IP:HOST:CONTAINER with two different ports: exit 2');
  t.match(mapped.stderr, /host port must equal the container port; use --port 127\.0\.0\.1:8080/, 'with the hint, address kept');
  t.notOk(records().some((n) => n.startsWith('pf-ipport-bad')), 'nothing left behind');
});

t.test("readiness counts the listeners on the pod's own address, not another pod's on the same port", async (t) => {
  const [pod, other] = ['pf-addr', 'pf-addr-other'];
  ownPod(t, pod);
  ownPod(t, other);
  const port = await freePort();
  const first = await cli(['create', other, '--runtime', 'process', '--port', `127.0.0.2:${port}`, '--replicas', '3', '--quiet', ...example]);
  t.equal(first.code, 0, `3 replicas listen on 127.0.0.2:${port} (stderr: ${first.stderr.trim()})`);
  const before = records();
  const idle = await cli(['create', pod, '--runtime', 'process', '--port', `127.0.0.1:${port}`, '--replicas', '3', '--wait-timeout', '2', '--', 'sleep', '1000']);
  t.equal(idle.code, 6, `a pod of sleep on 127.0.0.1:${port} is not ready: exit 6 (stderr: ${idle.stderr.trim()})`);
  t.match(idle.stderr, /only 0 of 3 listeners came up/, 'none of its own listeners came up');
  t.match(idle.stderr, /pf-addr-1, pf-addr-2 and pf-addr-3 are not listening\n\s+pf-addr-1 logged nothing\n/, 'each named, with what it logged');
  t.same(records(), before, 'and it left nothing');
  t.same((await lsRow(other))?.ready, 3, 'the other pod still serves');
});

/** The lifeline watchdog of a replica's command: the `sh` in the command's process group. */
function watchdogOf(commandPid: number): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === commandPid) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === commandPid && fields[0] !== 'Z') return Number(name);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

t.test('a keeper killed with SIGKILL takes its command with it: what ps and ls say is what runs', async (t) => {
  const pod = 'pf-keeper';
  ownPod(t, pod);
  const port = await freePort();
  const created = await cli(['create', pod, '--runtime', 'process', '--port', `127.0.0.1:${port}`, '--replicas', '2', '--quiet', ...example]);
  t.equal(created.code, 0, `create exits 0 (stderr: ${created.stderr.trim()})`);
  const [one, two] = [run(`${pod}-1`)!, run(`${pod}-2`)!];
  t.ok(one.pid > 0 && two.pid > 0, 'both commands run');

  process.kill(one.keeperPid, 'SIGKILL');
  // Nothing of ours is asked meanwhile: the command must go by itself, not because ps looked.
  await waitFor(`${pod}-1's command to go with its keeper`, async () => gone(one.pid), (g) => g, 10_000).catch(() => undefined);
  t.ok(gone(one.pid), `${pod}-1's command (pid ${one.pid}) is gone with its keeper`);
  t.same(await psStates(pod), ['exited', 'running'], 'ps: 1 exited, 2 running');
  t.same([...(await spread(port, 20)).keys()], [`Hello from ${pod}-2`], 'only replica 2 answers');

  process.kill(two.keeperPid, 'SIGKILL');
  await waitFor(`${pod}-2's command to go with its keeper`, async () => gone(two.pid), (g) => g, 10_000).catch(() => undefined);
  t.ok(gone(two.pid), `${pod}-2's command (pid ${two.pid}) is gone with its keeper`);
  const row = await lsRow(pod);
  t.same(row && [row.ready, row.desired, row.state], [0, 2, 'stopped'], 'ls: 0/2 stopped');
  t.ok(await refused(port), 'and indeed nothing answers');

  const repaired = await cli(['repair', pod]);
  t.equal(repaired.code, 0, `repair exits 0 (stderr: ${repaired.stderr.trim()})`);
  t.same([...(await spread(port, 100)).keys()].sort(), [`Hello from ${pod}-1`, `Hello from ${pod}-2`], 'both replicas answer again');

  // The watchdog killed first, then the keeper: the command is alone, and the first look ends it.
  const again = run(`${pod}-1`)!;
  const watchdog = watchdogOf(again.pid);
  t.ok(watchdog, `${pod}-1's command has its lifeline watchdog (${watchdog})`);
  if (watchdog) process.kill(watchdog, 'SIGKILL');
  process.kill(again.keeperPid, 'SIGKILL');
  t.same(await psStates(pod), ['exited', 'running'], 'ps: 1 exited');
  t.ok(gone(again.pid), `and its command (pid ${again.pid}) is gone`);
});

t.test('a scale whose new replicas never listen names them and quotes their logs (it removes them next)', async (t) => {
  const pod = 'pf-scale';
  ownPod(t, pod);
  // Replica 1 serves; the others wait for something that never comes, as a misconfigured one would.
  const script = join(state, 'picky.mjs');
  writeFileSync(
    script,
    `if (process.env.INSTANCE.endsWith('-1')) await import(${JSON.stringify(exampleJs)});\n` +
      'else { console.log(`${process.env.INSTANCE}: waiting for the database at db:5432`); setInterval(() => {}, 1 << 30); }\n',
  );
  const port = await freePort();
  const created = await cli(['create', pod, '--runtime', 'process', '--port', `127.0.0.1:${port}`, '--quiet', '--', process.execPath, script]);
  t.equal(created.code, 0, `create exits 0 (stderr: ${created.stderr.trim()})`);
  const scaled = await cli(['scale', pod, '--replicas', '3', '--wait-timeout', '2']);
  t.equal(scaled.code, 6, 'scale: exit 6');
  t.match(scaled.stderr, new RegExp(`only 1 of 3 listeners came up on port ${port} within 2 s: ${pod}-2 and ${pod}-3 are not listening`), 'names the two that do not listen');
  for (const n of [2, 3]) t.match(scaled.stderr, new RegExp(`${pod}-${n}'s last log lines:\\n\\s+${pod}-${n}: waiting for the database`), `quotes ${pod}-${n}'s log`);
  t.notMatch(scaled.stderr, /reuseport-pod logs/, 'does not point at logs that are about to go');
  t.match(scaled.stderr, /removing the replicas this scale added/, 'and removes what it added');
  t.same(await psStates(pod), ['running'], 'the pod is back to its one replica');
});

t.test('a command the keeper keeps restarting: its exit code is said', async (t) => {
  const pod = 'pf-exit';
  ownPod(t, pod);
  const before = records();
  const r = await cli(['create', pod, '--runtime', 'process', '--port', `127.0.0.1:${await freePort()}`, '--', 'sh', '-c', 'echo "no config file"; exit 3']);
  t.equal(r.code, 6, 'exit 6');
  t.match(r.stderr, new RegExp(`replica ${pod}-1 exited with code 3 before it was listening; its last log lines:\\n\\s+no config file`), 'with the code and the log');
  t.same(records(), before, 'nothing left');
});
