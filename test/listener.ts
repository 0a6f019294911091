// Listener library and native addon against real sockets (127.0.0.1 and ::1 only).
// Runs under the Node that runs tap (20: addon path) and, through test/listener-node24.ts,
// under Node 24 where both the built-in and the addon path are exercised.
import cluster from 'node:cluster';
import * as http from 'node:http';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import t from 'tap';

import { createServer, listen, reusePortSupport, type ListenOptions, type ReusePortPath } from '../packages/listener/src/index.ts';
import { describeSupport, hasBuiltinReusePort } from '../packages/listener/src/support.ts';
import { PATH_ENV } from '../packages/listener/src/validate.ts';
import {
  closeServer, fetchId, idServer, ipv6LoopbackAvailable, mapLimit, openFdCount, plainListener, portOf,
} from './helpers/listener-sockets.ts';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const nodeHasBuiltin = major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
const paths: ReusePortPath[] = nodeHasBuiltin ? ['builtin', 'addon'] : ['addon'];
const noIpv6 = !(await ipv6LoopbackAvailable()) && '::1 cannot be bound in this environment (IPv6 disabled)';

/** Runs fn with REUSEPORT_POD_PATH set to value (undefined: unset), then restores it. */
async function withPathEnv<T>(value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const saved = process.env[PATH_ENV];
  if (value === undefined) delete process.env[PATH_ENV];
  else process.env[PATH_ENV] = value;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env[PATH_ENV];
    else process.env[PATH_ENV] = saved;
  }
}

t.test(`reusePortSupport on Node ${process.versions.node}`, async (t) => {
  const support = reusePortSupport();
  t.equal(support.addon, true, 'the addon loads (N-API, so the same binary serves every Node)');
  t.equal(support.builtin, nodeHasBuiltin, 'built-in reusePort detected by version');
  t.equal(support.path, nodeHasBuiltin ? 'builtin' : 'addon', `'auto' would take ${support.path}`);
  t.match(support.reason, new RegExp(`Node ${process.versions.node}`));

  await withPathEnv(undefined, async () => {
    const server = net.createServer();
    const result = await listen(server, { port: 0, host: '127.0.0.1' });
    t.equal(result.path, nodeHasBuiltin ? 'builtin' : 'addon', "'auto' takes the path reusePortSupport() names");
    await closeServer(server);
  });
});

t.test('built-in detection by version and reasons', async (t) => {
  const table: Array<[string, boolean]> = [
    ['20.20.2', false], ['22.11.0', false], ['22.12.0', true], ['v22.12.0', true], ['23.0.0', false],
    ['23.1.0', true], ['24.0.0', true], ['25.2.1', true], ['18.20.0', false],
  ];
  for (const [version, expected] of table) t.equal(hasBuiltinReusePort(version), expected, version);

  const broken = { error: new Error('No native build was found for platform=linux arch=x64\n  loaded from: /x') };
  const neither = describeSupport('20.20.2', broken);
  t.equal(neither.path, null);
  t.notMatch(neither.reason, /npm rebuild/, 'no install script: npm rebuild would build nothing');
  t.match(neither.reason, /`cd \/\S+ && npm install --no-save node-addon-api@8 && npx --yes node-gyp rebuild --directory \/\S+`/, 'says how to build the addon, and where');
  t.match(neither.reason, /python3, make and g\+\+/, 'names the build tools');
  t.match(neither.reason, /22\.12/, 'names the Node versions with a built-in');
  t.notMatch(neither.reason, /loaded from/, 'keeps the reason to one line');
  t.equal(describeSupport('24.0.0', broken).path, 'builtin', 'a broken addon does not matter where Node has a built-in');
  t.equal(describeSupport('20.20.2', { error: null }).path, 'addon');
});

for (const path of paths) {
  const opts = (o: ListenOptions): ListenOptions => ({ ...o, prefer: path });

  t.test(`${path}: two listeners share one port and both get connections`, async (t) => {
    const a = idServer('a');
    const b = idServer('b');
    t.teardown(() => Promise.all([closeServer(a), closeServer(b)]));
    const first = await listen(a, opts({ port: 0, host: '127.0.0.1' }));
    t.equal(first.path, path);
    t.not(first.port, 0, 'port 0 resolved to an ephemeral port');
    const second = await listen(b, opts({ port: first.port, host: '127.0.0.1' }));
    t.same(second, { address: '127.0.0.1', family: 'IPv4', port: first.port, path });

    const total = 300;
    const ids = await mapLimit(total, 16, () => fetchId(first.port, '127.0.0.1'));
    const counts = { a: ids.filter((id) => id === 'a').length, b: ids.filter((id) => id === 'b').length };
    t.equal(counts.a + counts.b, total, `every connection answered (${JSON.stringify(counts)})`);
    t.ok(counts.a >= total * 0.3, `listener a got ${counts.a} of ${total}`);
    t.ok(counts.b >= total * 0.3, `listener b got ${counts.b} of ${total}`);
  });

  t.test(`${path}: a plain listener on the port makes listen reject with EADDRINUSE`, async (t) => {
    const plain = await plainListener(0, '127.0.0.1');
    t.teardown(() => closeServer(plain));
    const port = portOf(plain);
    const server = net.createServer();
    const err = await listen(server, opts({ port, host: '127.0.0.1' })).then(
      () => null,
      (e: NodeJS.ErrnoException & { address?: string; port?: number }) => e,
    );
    if (!err) {
      t.fail('listen should have failed');
      return;
    }
    t.type(err, Error);
    t.equal(err.code, 'EADDRINUSE');
    t.equal(err.errno, -98);
    // Node reports a failed bind() as 'listen'; the addon names the syscall that failed.
    t.equal(err.syscall, path === 'builtin' ? 'listen' : 'bind');
    t.equal(err.address, '127.0.0.1');
    t.equal(err.port, port);
    t.equal(err.message, `${err.syscall} EADDRINUSE: address already in use 127.0.0.1:${port}`);
    t.equal(server.listening, false);
    t.equal(server.listenerCount('error'), 0, 'no error listener left behind');
    t.equal(server.listenerCount('listening'), 0, 'no listening listener left behind');
  });

  t.test(`${path}: 1,000 failed attempts leave the fd count unchanged`, async (t) => {
    const plain = await plainListener(0, '127.0.0.1');
    t.teardown(() => closeServer(plain));
    const port = portOf(plain);
    const server = net.createServer();
    // One attempt first, so lazily opened descriptors (addon, dns) are not counted as leaks.
    await listen(server, opts({ port, host: '127.0.0.1' })).catch(() => {});
    const before = openFdCount();
    let failures = 0;
    for (let i = 0; i < 1000; i++) {
      await listen(server, opts({ port, host: '127.0.0.1' })).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'EADDRINUSE') failures++;
      });
    }
    t.equal(failures, 1000, 'every attempt failed with EADDRINUSE');
    t.equal(openFdCount(), before, `fd count stays at ${before}`);
  });

  t.test(`${path}: port 0 gives an ephemeral port that accepts a connection`, async (t) => {
    const server = idServer('x');
    t.teardown(() => closeServer(server));
    const result = await listen(server, opts({ port: 0, host: '127.0.0.1', backlog: 64 }));
    t.ok(result.port > 0 && result.port <= 65535, `port ${result.port}`);
    t.equal(portOf(server), result.port);
    t.equal(await fetchId(result.port, '127.0.0.1'), 'x');
  });

  t.test(`${path}: IPv6 loopback`, { skip: noIpv6 }, async (t) => {
    for (const ipv6Only of [false, true]) {
      const a = idServer('a');
      const b = idServer('b');
      const first = await listen(a, opts({ port: 0, host: '::1', ipv6Only }));
      t.same(first, { address: '::1', family: 'IPv6', port: first.port, path }, `ipv6Only: ${ipv6Only}`);
      t.equal((await listen(b, opts({ port: first.port, host: '::1', ipv6Only }))).port, first.port, 'second replica joins');
      const id = await fetchId(first.port, '::1');
      t.ok(id === 'a' || id === 'b', `a connection to [::1]:${first.port} is answered`);
      await Promise.all([closeServer(a), closeServer(b)]);
    }
  });

  t.test(`${path}: ipv6Only decides whether '::' also takes the IPv4 port`, { skip: noIpv6 }, async (t) => {
    // Bind only, no traffic: with ipv6Only the same port stays free on 127.0.0.1, without it
    // the dual-stack socket holds it and a plain IPv4 listener gets EADDRINUSE.
    const v6only = net.createServer();
    const { port } = await listen(v6only, opts({ port: 0, host: '::', ipv6Only: true }));
    const v4 = await plainListener(port, '127.0.0.1');
    t.pass(`127.0.0.1:${port} is free next to [::]:${port} with ipv6Only`);
    await Promise.all([closeServer(v4), closeServer(v6only)]);

    const dual = net.createServer();
    const dualPort = (await listen(dual, opts({ port: 0, host: '::' }))).port;
    await t.rejects(plainListener(dualPort, '127.0.0.1'), { code: 'EADDRINUSE' }, 'dual-stack [::] holds the IPv4 port');
    await closeServer(dual);
  });

  t.test(`${path}: createServer serves HTTP and reports how it listens`, async (t) => {
    const server = await createServer((_req, res) => res.end('hello'), opts({ port: 0, host: '127.0.0.1' }));
    t.teardown(() => closeServer(server));
    t.type(server, http.Server);
    t.same(server.reusePort, { address: '127.0.0.1', family: 'IPv4', port: portOf(server), path });
    const body = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: server.reusePort.port, agent: false }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { data += c; });
        res.on('end', () => resolve(data));
      }).on('error', reject);
    });
    t.equal(body, 'hello');
  });
}

t.test('malformed arguments are refused before any syscall', async (t) => {
  const before = openFdCount();
  const server = net.createServer();
  const cases: Array<[string, unknown, { name: string; code: string; message?: RegExp }]> = [
    ['port -1', { port: -1 }, { name: 'RangeError', code: 'ERR_SOCKET_BAD_PORT', message: /received -1$/ }],
    ['port 65536', { port: 65536 }, { name: 'RangeError', code: 'ERR_SOCKET_BAD_PORT', message: /received 65536$/ }],
    ['port 1.5', { port: 1.5 }, { name: 'RangeError', code: 'ERR_SOCKET_BAD_PORT', message: /received 1\.5$/ }],
    ['port NaN', { port: NaN }, { name: 'RangeError', code: 'ERR_SOCKET_BAD_PORT', message: /received NaN$/ }],
    ["port '80'", { port: '80' }, { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /options\.port must be a number; received '80' \(string\)/ }],
    ['no port', {}, { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /received undefined/ }],
    ["host 'localhost'", { port: 0, host: 'localhost' }, { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: /received 'localhost'$/ }],
    ["host '1.2.3'", { port: 0, host: '1.2.3' }, { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: /received '1\.2\.3'$/ }],
    ["host ''", { port: 0, host: '' }, { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: /received ''$/ }],
    ["host '::g'", { port: 0, host: '::g' }, { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: /received '::g'$/ }],
    ['host example.com', { port: 0, host: 'example.com' }, { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: /received 'example\.com'$/ }],
    ['host with zone id', { port: 0, host: 'fe80::1%lo' }, { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: /zone id/ }],
    ['host 127', { port: 0, host: 127 }, { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /received 127 \(number\)/ }],
    ['backlog 0', { port: 0, backlog: 0 }, { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /received 0$/ }],
    ['backlog 1.5', { port: 0, backlog: 1.5 }, { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /received 1\.5$/ }],
    ['ipv6Only with IPv4 host', { port: 0, host: '127.0.0.1', ipv6Only: true }, { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: /needs an IPv6 host; received host '127\.0\.0\.1'/ }],
    ["ipv6Only 'yes'", { port: 0, host: '::1', ipv6Only: 'yes' }, { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }],
    ["prefer 'kernel'", { port: 0, prefer: 'kernel' }, { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: /received 'kernel'$/ }],
    ['options null', null, { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }],
  ];
  for (const [label, options, expected] of cases) {
    await t.rejects(listen(server, options as ListenOptions), expected, label);
  }
  await t.rejects(listen({} as net.Server, { port: 0 }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }, 'not a server');
  await t.rejects(withPathEnv('fast', () => listen(server, { port: 0 })),
    { code: 'ERR_INVALID_ARG_VALUE', message: /REUSEPORT_POD_PATH must be .*received 'fast'/ }, 'bad REUSEPORT_POD_PATH');
  t.equal(server.listening, false);
  t.equal(openFdCount(), before, 'no descriptor was opened');
});

t.test('REUSEPORT_POD_PATH sets the default path, options.prefer wins', async (t) => {
  for (const path of paths) {
    const server = net.createServer();
    const result = await withPathEnv(path, () => listen(server, { port: 0, host: '127.0.0.1' }));
    t.equal(result.path, path, `${PATH_ENV}=${path}`);
    await closeServer(server);
  }
  const server = net.createServer();
  const result = await withPathEnv('builtin', () => listen(server, { port: 0, host: '127.0.0.1', prefer: 'addon' }));
  t.equal(result.path, 'addon', 'prefer: addon over the environment');
  await closeServer(server);
});

t.test('a server that already listens is refused', async (t) => {
  const server = net.createServer();
  t.teardown(() => closeServer(server));
  await listen(server, { port: 0, host: '127.0.0.1' });
  const before = openFdCount();
  await t.rejects(listen(server, { port: 0, host: '127.0.0.1', prefer: 'addon' }), { code: 'ERR_SERVER_ALREADY_LISTEN' });
  t.equal(openFdCount(), before);
});

t.test("prefer: 'builtin' without a built-in says which Node has one", { skip: nodeHasBuiltin && 'this Node has the built-in' }, async (t) => {
  await t.rejects(listen(net.createServer(), { port: 0, host: '127.0.0.1', prefer: 'builtin' }), {
    code: 'ERR_REUSEPORT_UNAVAILABLE',
    message: new RegExp(`needs Node >= 22\\.12 on 22\\.x, or >= 23\\.1; this is Node ${process.versions.node}`),
  });
});

t.test('cluster workers are refused', async (t) => {
  cluster.setupPrimary({ exec: fileURLToPath(new URL('./helpers/listener-cluster-worker.ts', import.meta.url)), silent: true });
  const worker = cluster.fork();
  const message = await new Promise<{ ok: boolean; code?: string; message?: string }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('exit', (code) => reject(new Error(`worker exited (${code}) without answering`)));
  });
  worker.removeAllListeners('exit');
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  worker.kill();
  await exited;
  t.equal(message.ok, false, 'listen rejected in the worker');
  t.equal(message.code, 'ERR_REUSEPORT_CLUSTER');
  t.match(message.message, /cluster/);
});
