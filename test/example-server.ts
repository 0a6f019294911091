// End-to-end tests of examples/http-server.ts: real processes sharing one real port.
import t from 'tap';
import * as http from 'node:http';
import * as net from 'node:net';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { existsSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { exampleJs, findNode24, repoRoot, spawnExample, type ExampleProcess } from './helpers/example-process.ts';
import { freePort, getNewConnection, getWith, pooled, startRequest } from './helpers/http-client.ts';
import { reusePortSupport } from '../src/index.ts';

type Test = Parameters<Parameters<typeof t.test>[1]>[0];

// `npm test` builds first; a bare `npx tap test/example-server.ts` would otherwise run a stale or
// missing dist and report the wrong thing.
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}
if (!existsSync(exampleJs) || statSync(exampleJs).mtimeMs < Math.max(newestMtime(join(repoRoot, 'examples')), newestMtime(join(repoRoot, 'src')))) {
  execFileSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
}

const startLine = /listening on /;

async function startPair(t: Test, node: string, extraEnv: Record<string, string> = {}) {
  const port = await freePort();
  const env = (instance: string) => ({ HOST: '127.0.0.1', PORT: String(port), INSTANCE: instance, TEST_SLOW_PATH: '1', ...extraEnv });
  const a = spawnExample(t, env('a'), node);
  const b = spawnExample(t, env('b'), node);
  const [lineA, lineB] = await Promise.all([a.waitForLine(startLine), b.waitForLine(startLine)]);
  return { port, a, b, lineA, lineB };
}

async function countInstances(port: number, n: number): Promise<Map<string, number>> {
  const replies = await pooled(n, 20, () => getNewConnection(port));
  const counts = new Map<string, number>();
  for (const r of replies) {
    const key = r.status === 200 ? r.body : `status ${r.status}: ${r.body}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** A keep-alive agent whose single socket the kernel has handed to `instance`. */
async function agentOn(port: number, instance: string): Promise<http.Agent> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const r = await getWith(agent, port);
    if (r.body === `Hello from ${instance}\n`) return agent;
    agent.destroy();
  }
  throw new Error(`50 connections in a row missed instance ${instance}`);
}

function twoReplicas(node: string, path: RegExp) {
  return async (t: Test) => {
    const { port, a, b, lineA, lineB } = await startPair(t, node);
    t.match(lineA, new RegExp(`^a listening on 127\\.0\\.0\\.1:${port} \\(reuseport: ${path.source}, pid ${a.pid}\\)$`));
    t.match(lineB, new RegExp(`^b listening on 127\\.0\\.0\\.1:${port} \\(reuseport: ${path.source}, pid ${b.pid}\\)$`));

    const n = 300;
    const counts = await countInstances(port, n);
    const fromA = counts.get('Hello from a\n') ?? 0;
    const fromB = counts.get('Hello from b\n') ?? 0;
    t.equal(fromA + fromB, n, 'every new connection answered 200 by a or b', { counts: Object.fromEntries(counts) });
    t.ok(fromA >= 0.3 * n, `a answered ${fromA}/${n} (>= 30%)`);
    t.ok(fromB >= 0.3 * n, `b answered ${fromB}/${n} (>= 30%)`);

    // Graceful stop of a while one of its requests is in flight on a keep-alive connection.
    const agent = await agentOn(port, 'a');
    t.teardown(() => agent.destroy());
    const slow = startRequest(agent, port, '/slow?ms=700');
    // Awaited below; if an earlier step fails, its rejection is a consequence, not a second failure.
    slow.reply.catch(() => {});
    await slow.started;
    a.kill('SIGTERM');
    await a.waitForLine(/^a draining /);

    // While a drains, its listener is already gone: new connections all go to b.
    const during = await countInstances(port, 10);
    t.same(Object.fromEntries(during), { 'Hello from b\n': 10 }, 'new connections during the drain all reach b');

    const reply = await slow.reply;
    t.equal(reply.status, 200, 'in-flight request completes');
    t.equal(reply.body, 'Hello from a\n');
    t.equal(reply.headers.connection, 'close', 'a keep-alive response sent while draining says Connection: close');
    t.same(await a.exited, { code: 0, signal: null }, 'a exits 0 after the drain');
    t.match(await a.waitForLine(/stopped/), /^a stopped after draining \d+ connections$/);
    t.same(a.stderr, [], 'nothing on a stderr');

    const after = await countInstances(port, 10);
    t.same(Object.fromEntries(after), { 'Hello from b\n': 10 }, 'the survivor keeps answering on the same port');
    t.equal(b.child.exitCode, null, 'b still runs');
  };
}

// The child gets no REUSEPORT_POD_PATH, so it takes the path 'auto' takes in this same Node.
const autoPath = reusePortSupport().path ?? 'none';
t.test(`two replicas on one port (Node ${process.version}, auto path: ${autoPath})`, twoReplicas(process.execPath, new RegExp(autoPath)));

const node24 = findNode24();
if (node24) {
  t.test(`two replicas on one port (Node 24 at ${node24}, builtin path)`, twoReplicas(node24, /builtin/));
} else if (process.env.CI === 'true') {
  t.fail('Node 24 not found (set NODE24 or run scripts/get-node24.sh): CI must test the builtin reusePort path');
} else {
  t.test('two replicas on one port (Node 24, builtin path)', { skip: 'no Node 24: run scripts/get-node24.sh (or set NODE24=/path/to/node)' }, () => {});
}

t.test('bad environment: one line on stderr, exit 2', async (t) => {
  for (const env of [{ PORT: 'abc' }, { PORT: '70000' }, { HOST: 'localhost' }, { SHUTDOWN_TIMEOUT_MS: '-1' }, { REUSEPORT: '2' }]) {
    const p = spawnExample(t, { HOST: '127.0.0.1', ...env });
    t.same(await p.exited, { code: 2, signal: null }, `${JSON.stringify(env)} exits 2`);
    t.equal(p.stderr.length, 1, 'exactly one line on stderr', { stderr: p.stderr });
    t.match(p.stderr[0], new RegExp(Object.keys(env)[0]!), 'the line names the variable');
    t.same(p.stdout, [], 'nothing on stdout');
  }
});

t.test('REUSEPORT=0: a plain listener (one per namespace, as in a --mode dnat pod)', async (t) => {
  const port = await freePort();
  const env = (instance: string) => ({ HOST: '127.0.0.1', PORT: String(port), INSTANCE: instance, REUSEPORT: '0' });
  const a = spawnExample(t, env('a'));
  t.match(await a.waitForLine(startLine), new RegExp(`^a listening on 127\\.0\\.0\\.1:${port} \\(reuseport: off, pid ${a.pid}\\)$`));
  t.equal((await getNewConnection(port)).body, 'Hello from a\n', 'it answers');
  // Without SO_REUSEPORT a second listener on the same port is refused: the knob really is off.
  const b = spawnExample(t, env('b'));
  t.same(await b.exited, { code: 1, signal: null }, 'a second one on the same port exits 1');
  t.match(b.stderr.join('\n'), /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/, 'and says the address is in use');
  a.kill('SIGTERM');
  t.same(await a.exited, { code: 0, signal: null }, 'a drains and exits 0');
});

async function oneWithSlowRequest(t: Test, extraEnv: Record<string, string>): Promise<{ p: ExampleProcess; reply: Promise<unknown> }> {
  const port = await freePort();
  const p = spawnExample(t, { HOST: '127.0.0.1', PORT: String(port), INSTANCE: 'x', TEST_SLOW_PATH: '1', ...extraEnv });
  await p.waitForLine(startLine);
  const agent = new http.Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());
  const slow = startRequest(agent, port, '/slow?ms=5000');
  await slow.started;
  // The drain cuts this request: its failure is the point, not an error of the test.
  return { p, reply: slow.reply.catch((err: Error) => err) };
}

t.test('drain deadline: force-close the rest, log it, exit 1', async (t) => {
  const { p, reply } = await oneWithSlowRequest(t, { SHUTDOWN_TIMEOUT_MS: '300' });
  p.kill('SIGTERM');
  t.same(await p.exited, { code: 1, signal: null });
  t.match(await p.waitForLine(/timed out/), /^x drain timed out after 300 ms, force-closing 1 connections$/);
  t.type(await reply, Error, 'the cut request fails on the client');
});

t.test('a second signal during the drain exits at once', async (t) => {
  const { p, reply } = await oneWithSlowRequest(t, {});
  p.kill('SIGTERM');
  await p.waitForLine(/draining/);
  const sent = Date.now();
  p.kill('SIGINT');
  t.same(await p.exited, { code: 1, signal: null });
  t.ok(Date.now() - sent < 2_000, 'well before the request or the 10 s deadline would end');
  t.match(await p.waitForLine(/again/), /^x got SIGINT again while draining, exiting now$/);
  await reply;
});

// A keep-alive connection that is idle when the drain starts may carry its client's next request
// at any moment; closing it then would reset that request. The drain serves it instead, with
// `Connection: close`. The listener is already gone, so an answer proves the old connection carried it.
t.test('an idle keep-alive connection still carries one request during the drain', async (t) => {
  const port = await freePort();
  const p = spawnExample(t, { HOST: '127.0.0.1', PORT: String(port), INSTANCE: 'x' });
  await p.waitForLine(startLine);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const first = await getWith(agent, port);
  t.equal(first.headers.connection, 'keep-alive', 'the first answer keeps the connection open');

  p.kill('SIGTERM');
  await p.waitForLine(/^x draining 1 connections/);
  const second = await getWith(agent, port);
  t.equal(second.status, 200, 'the request on the idle connection is answered');
  t.equal(second.headers.connection, 'close', 'and told that the connection ends');
  t.same(await p.exited, { code: 0, signal: null }, 'the drain then ends cleanly');
  t.match(await p.waitForLine(/stopped/), /^x stopped after draining 1 connections$/);
});

t.test('a connection idle through the whole grace period is closed by the server', async (t) => {
  const port = await freePort();
  const p = spawnExample(t, { HOST: '127.0.0.1', PORT: String(port), INSTANCE: 'x' });
  await p.waitForLine(startLine);
  const socket = net.connect(port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await once(socket, 'data');
  const ended = once(socket, 'end');
  p.kill('SIGTERM');
  await ended;
  t.pass('the server ended the idle connection');
  t.same(await p.exited, { code: 0, signal: null }, 'exit 0, not the drain deadline');
});
