// The product as a user meets it: the built CLI against a real dockerd, real containers, and plain
// HTTP on 127.0.0.1. Checked with the docker CLI, not with the tool's own code.
import { spawn } from 'node:child_process';
import t from 'tap';
import { cli, cliPath, forceRemovePod, podContainers, requireEngine, spread } from './helpers/cli.ts';
import { docker, ensureImages, inspect, waitFor } from './helpers/docker.ts';
import { freePort } from './helpers/http-client.ts';

const POD = 'e2e-life';

function assertSpread(t: Tap.Test, counts: Map<string, number>, pod: string, replicas: number[], total: number, minShare: number): void {
  const expected = replicas.map((n) => `Hello from ${pod}-${n}`).sort();
  t.same([...counts.keys()].sort(), expected, `exactly replicas ${replicas.join(',')} answer`);
  for (const key of expected) {
    const share = (counts.get(key) ?? 0) / total;
    t.ok(share >= minShare, `${key}: ${(share * 100).toFixed(0)}% of ${total} (>= ${minShare * 100}%)`);
  }
}

t.test('create, scale, ps/ls, logs, rm', async (t) => {
  if (!(await requireEngine(t))) return;
  await ensureImages('pause', 'node-base', 'example');
  await forceRemovePod(POD);
  t.teardown(() => forceRemovePod(POD));
  const port = await freePort();

  const created = await cli(['create', POD, '--port', `127.0.0.1:${port}:8080`, '--replicas', '3', '--json']);
  t.equal(created.code, 0, `create exits 0 (stderr: ${created.stderr.trim()})`);
  const result = JSON.parse(created.stdout);
  t.equal(result.replicas.length, 3);
  t.match(created.stderr, /Waiting for 3 listeners on port 8080/, 'progress on stderr');

  t.test('300 new connections reach all 3 replicas', async (t) => {
    assertSpread(t, await spread(port, 300), POD, [1, 2, 3], 300, 0.2);
  });

  t.test('the sandbox alone publishes the port; replicas join its namespace', async (t) => {
    const sandboxId = await docker('inspect', '--format', '{{.Id}}', `${POD}-sandbox`);
    const sandboxPorts = await inspect<Record<string, unknown>>(`${POD}-sandbox`, '.HostConfig.PortBindings');
    t.same(Object.keys(sandboxPorts), ['8080/tcp']);
    t.equal(await inspect(`${POD}-sandbox`, '.HostConfig.ReadonlyRootfs'), true, 'sandbox root is read-only');
    t.same(await inspect(`${POD}-sandbox`, '.HostConfig.CapDrop'), ['ALL'], 'sandbox has no capabilities');
    t.same(await inspect(`${POD}-sandbox`, '.HostConfig.Sysctls'), { 'net.ipv4.tcp_migrate_req': '1' });
    for (const n of [1, 2, 3]) {
      const name = `${POD}-${n}`;
      t.equal(await inspect(name, '.HostConfig.NetworkMode'), `container:${sandboxId}`, `${name} joins the sandbox`);
      const bindings = await inspect<Record<string, unknown> | null>(name, '.HostConfig.PortBindings');
      t.same(Object.keys(bindings ?? {}), [], `${name} publishes nothing`);
      const env = await inspect<string[]>(name, '.Config.Env');
      t.ok(env.includes(`INSTANCE=${name}`) && env.includes('PORT=8080'), `${name} has INSTANCE and PORT`);
      const labels = await inspect<Record<string, string>>(name, '.Config.Labels');
      t.match(labels, { 'io.reuseport-pod.pod': POD, 'io.reuseport-pod.role': 'replica', 'io.reuseport-pod.replica': String(n) });
    }
  });

  t.test('ps and ls, as text and as JSON', async (t) => {
    const ps = await cli(['ps', POD, '--json']);
    t.equal(ps.code, 0);
    const rows = JSON.parse(ps.stdout).replicas as Array<{ name: string; state: string; restarts: number }>;
    t.same(rows.map((r) => [r.name, r.state, r.restarts]), [1, 2, 3].map((n) => [`${POD}-${n}`, 'running', 0]));
    const psText = await cli(['ps', POD]);
    t.match(psText.stdout, /^NAME\s+STATE\s+HEALTH\s+RESTARTS\s+UPTIME\s+IMAGE\n/);
    t.equal(psText.stdout.trim().split('\n').length, 4, 'a header and 3 rows');
    t.same(psText.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[2]), ['-', '-', '-'], 'HEALTH: "-" for replicas without a health check');
    const ls = await cli(['ls', '--json']);
    const mine = (JSON.parse(ls.stdout) as Array<{ name: string }>).find((p) => p.name === POD);
    t.match(mine, { name: POD, ready: 3, desired: 3, state: 'running', ports: [`127.0.0.1:${port}:8080`] });
    const lsText = await cli(['ls']);
    t.match(lsText.stdout, new RegExp(`^${POD}\\s+127\\.0\\.0\\.1:${port}:8080\\s+3/3\\s+running`, 'm'));
  });

  t.test('logs: every replica, each line prefixed', async (t) => {
    const logs = await cli(['logs', POD]);
    t.equal(logs.code, 0);
    for (const n of [1, 2, 3]) t.match(logs.stdout, new RegExp(`^${POD}-${n} \\| ${POD}-${n} listening on 0\\.0\\.0\\.0:8080`, 'm'));
    const tail = await cli(['logs', POD, '--tail', '1']);
    t.equal(tail.stdout.trim().split('\n').length, 3, '--tail 1: one line per replica');
  });

  t.test('logs -f: lines appear as replicas write them', async (t) => {
    const follow = spawn(process.execPath, [cliPath, 'logs', POD, '-f'], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(() => void follow.kill());
    let seen = '';
    const appears = (re: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const check = () => re.test(seen) && resolve();
        follow.stdout.setEncoding('utf8').on('data', (chunk: string) => ((seen += chunk), check()));
        follow.once('exit', (code) => reject(new Error(`logs -f exited (${code}) before ${re}: ${seen}`)));
        check();
      });
    await appears(new RegExp(`^${POD}-3 \\| ${POD}-3 listening`, 'm'));
    // A graceful stop writes a last line: the follower must show it, prefixed, while running.
    await docker('stop', `${POD}-2`);
    await appears(new RegExp(`^${POD}-2 \\| ${POD}-2 stopped`, 'm'));
    t.pass('the stop line of web-2 came through logs -f');
    await docker('start', `${POD}-2`);
  });

  t.test('scale 3 -> 5 -> 1: the instances answering follow', async (t) => {
    const up = await cli(['scale', POD, '--replicas', '5', '--json']);
    t.equal(up.code, 0, up.stderr);
    t.same(JSON.parse(up.stdout).added, [`${POD}-4`, `${POD}-5`]);
    assertSpread(t, await spread(port, 300), POD, [1, 2, 3, 4, 5], 300, 0.1);
    t.same(await podContainers(POD, 'replica'), [`${POD}-1`, `${POD}-2`, `${POD}-3`, `${POD}-4`, `${POD}-5`]);
    t.same(await podContainers(POD, 'state'), [`${POD}-state-g2`], 'the desired count is recorded once, newest generation only');
    t.same(await podContainers(POD, 'lock'), [], 'no lock is left behind');

    const down = await cli(['scale', POD, '--replicas', '1', '--json']);
    t.equal(down.code, 0, down.stderr);
    t.same(JSON.parse(down.stdout).removed, [`${POD}-5`, `${POD}-4`, `${POD}-3`, `${POD}-2`]);
    assertSpread(t, await spread(port, 50), POD, [1], 50, 1);
    const ls = JSON.parse((await cli(['ls', '--json'])).stdout) as Array<{ name: string; ready: number; desired: number }>;
    t.match(ls.find((p) => p.name === POD), { ready: 1, desired: 1 });
    const ps = JSON.parse((await cli(['ps', POD, '--json'])).stdout);
    t.same(ps.replicas.map((r: { name: string }) => r.name), [`${POD}-1`]);
  });

  t.test('the sandbox stops on SIGTERM (not killed after the timeout)', async (t) => {
    // A `sleep` PID 1 ignores SIGTERM and is killed after 10 s with 137; pause exits 0 at once.
    const started = Date.now();
    await docker('stop', `${POD}-sandbox`);
    const seconds = (Date.now() - started) / 1000;
    t.equal(await inspect(`${POD}-sandbox`, '.State.ExitCode'), 0, `sandbox exited 0 on SIGTERM (docker stop took ${seconds.toFixed(2)} s)`);
    await docker('start', `${POD}-sandbox`);
    // The replica is still "Up" but sits in the old namespace: ls must not call the pod running.
    t.equal(await inspect(`${POD}-1`, '.State.Running'), true, 'docker still shows the replica running');
    const stranded = (JSON.parse((await cli(['ls', '--json'])).stdout) as Array<{ name: string; ready: number; state: string }>).find((p) => p.name === POD);
    t.match(stranded, { ready: 0, state: 'stopped' }, 'ls counts no listener in the new namespace');
    await docker('restart', '-t', '2', `${POD}-1`);
    const healed = () => cli(['ls', '--json']).then((r) => (JSON.parse(r.stdout) as Array<{ name: string; ready: number }>).find((p) => p.name === POD)?.ready);
    await waitFor('the restarted replica to listen in the new namespace', healed, (ready) => ready === 1, 30_000);
    assertSpread(t, await spread(port, 20), POD, [1], 20, 1);
  });

  t.test('rm leaves nothing behind', async (t) => {
    const rm = await cli(['rm', POD]);
    t.equal(rm.code, 0, rm.stderr);
    t.match(rm.stdout, new RegExp(`pod ${POD} removed`));
    t.same(await podContainers(POD), []);
    const again = await cli(['rm', POD]);
    t.equal(again.code, 4, 'removing it again: not found');
  });
});
