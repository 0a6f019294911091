// The process runtime's records and probes, in process: the name test-and-set that the pod lock
// relies on (many racing creators, one winner, the others told 409 as Docker would), the listener
// count readiness asks for (real SO_REUSEPORT sockets on 127.0.0.1, counted for the pod's address),
// and what exec refuses.
// The whole runtime, with keepers and servers, is driven through the CLI in test/process-runtime.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createServer } from '../src/index.ts';
import { statusOf } from '../src/runtime/docker-errors.ts';
import { countHostListeners, ProcessRuntime } from '../src/runtime/process.ts';

function runtime(t: Tap.Test): ProcessRuntime {
  const root = mkdtempSync(join(tmpdir(), 'reuseport-pod-store-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  return new ProcessRuntime(root);
}

t.test('a taken name is refused with a 409 cause, and only one of many racing creators wins', async (t) => {
  const rt = runtime(t);
  const labels = { 'io.reuseport-pod.pod': 'web', 'io.reuseport-pod.role': 'lock' };
  const results = await Promise.allSettled(Array.from({ length: 20 }, () => rt.createMarker({ name: 'web-lock', image: 'x', labels })));
  const won = results.filter((r) => r.status === 'fulfilled');
  t.equal(won.length, 1, 'one creator wins');
  for (const r of results) if (r.status === 'rejected') t.equal(statusOf((r.reason as { cause?: unknown }).cause), 409, 'the others get 409');
  t.same((await rt.listContainers({ 'io.reuseport-pod.pod': 'web' })).map((c) => c.name), ['web-lock'], 'listed by label');
  await rt.removeContainer('web-lock');
  t.same(await rt.listContainers({}), [], 'removed');
  t.ok(await rt.createMarker({ name: 'web-lock', image: 'x', labels }), 'the name is free again');
});

t.test('the sandbox counts LISTEN sockets on its port, as /pause --listeners does', async (t) => {
  const rt = runtime(t);
  const first = await createServer(() => undefined, { host: '127.0.0.1', port: 0 });
  const port = first.reusePort.port;
  const second = await createServer(() => undefined, { host: '127.0.0.1', port });
  t.teardown(() => {
    first.close();
    second.close();
  });
  const sandbox = await rt.runPodSandbox({ name: 'web-sandbox', image: 'x', labels: {}, ports: [{ hostIp: '127.0.0.1', hostPort: port, containerPort: port }], sysctls: {} });
  const answer = await rt.exec(sandbox, ['/pause', '--listeners', String(port)]);
  t.same(answer, { exitCode: 0, stdout: '2\n', stderr: '' }, 'two listeners on the port');
  t.equal(countHostListeners(port, '127.0.0.1'), 2);
  // The host is shared: listeners on one address serve neither another one nor every address.
  t.equal(countHostListeners(port, '127.0.0.2'), 0, 'none for a pod on 127.0.0.2');
  t.equal(countHostListeners(port), 0, 'none for a pod on every address');
  await new Promise<void>((resolve) => second.close(() => resolve()));
  t.equal(countHostListeners(port, '127.0.0.1'), 1, 'one after a listener closes');
  const other = await rt.exec(sandbox, ['sh', '-c', 'true']);
  t.equal(other.exitCode, 126, 'any other command is refused');
});

t.test('a port mapped to another port is refused before anything is made', async (t) => {
  const rt = runtime(t);
  await t.rejects(rt.runPodSandbox({ name: 'web-sandbox', image: 'x', labels: {}, ports: [{ hostPort: 80, containerPort: 8080 }], sysctls: {} }), /host port must equal the container port/);
  t.same(await rt.listContainers({}), [], 'no record');
});
