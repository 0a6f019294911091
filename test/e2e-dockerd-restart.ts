// dockerd restarts: with the restart policies the tool sets, a pod serves again afterwards (after
// `repair` when Docker left replicas Exited: it does not order `container:` dependencies when it
// restores containers, so a replica that starts before its sandbox fails and stays down).
//
// This restarts dockerd, so it runs ONLY against the dockerd that the test run itself started:
// REUSEPORT_POD_DOCKERD_PIDFILE must name a file holding that dockerd's pid (.ci/run writes it).
// Without it the test skips. The dockerd is stopped with SIGTERM (as `systemctl restart` would),
// started again with the command line, environment and working directory it had (read from /proc
// before stopping it), in its own session, logging to /tmp; the new pid goes into the same file so
// that whoever started the first one can stop this one. Nothing else may be running on that dockerd:
// other pods or test containers would be cut off, so the test refuses (fails) while any run.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { cli, cliPath, forceRemovePod, podContainers, requireEngine, spread } from './helpers/cli.ts';
import { docker, dockerRun, ensureImages, sleep, waitFor } from './helpers/docker.ts';
import { freePort } from './helpers/http-client.ts';

const POD = 'e2e-rep-dockerd';
const PIDFILE_ENV = 'REUSEPORT_POD_DOCKERD_PIDFILE';
const LOG = '/tmp/reuseport-pod-dockerd-restart.log';

const hellos = (ns: number[]) => ns.map((n) => `Hello from ${POD}-${n}`);

function alive(pid: number): boolean {
  try {
    // A zombie still answers kill(0): look at its state too.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

/** The engine addresses a dockerd listens on, from its argv (-H / --host; default the standard socket). */
function hostsOf(argv: string[]): string[] {
  const hosts: string[] = [];
  argv.forEach((a, i) => {
    if ((a === '-H' || a === '--host') && argv[i + 1]) hosts.push(argv[i + 1]!);
    const m = /^(?:-H|--host)=(.+)$/.exec(a);
    if (m) hosts.push(m[1]!);
  });
  return hosts.length ? hosts : ['unix:///var/run/docker.sock'];
}

const normalize = (h: string) => h.replace(/^unix:\/\/\/var\/run\//, 'unix:///run/').replace(/^fd:\/\/$/, 'unix:///run/docker.sock');

async function othersRunning(): Promise<string[]> {
  const out = await docker('ps', '--format', '{{.Names}}');
  return out.split('\n').filter((n) => n && !n.startsWith(`${POD}-`));
}

t.test('a pod serves again after the dockerd of this run restarts', async (t) => {
  const pidfile = process.env[PIDFILE_ENV];
  if (!pidfile) {
    t.skip(`${PIDFILE_ENV} is not set: this test restarts dockerd, so it runs only against a dockerd the test run started (.ci/run names its pidfile there), never a shared one`);
    return;
  }
  if (!(await requireEngine(t))) return;
  const pid = Number(existsSync(pidfile) ? readFileSync(pidfile, 'utf8').trim() : NaN);
  if (!(pid > 1) || !alive(pid) || !/dockerd/.test(readFileSync(`/proc/${pid}/comm`, 'utf8'))) {
    t.fail(`${PIDFILE_ENV}=${pidfile} does not hold the pid of a running dockerd (read ${JSON.stringify(existsSync(pidfile) ? readFileSync(pidfile, 'utf8') : 'no such file')})`);
    return;
  }
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  const env = Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  const cwd = readlinkSync(`/proc/${pid}/cwd`);
  // The engine this run talks to must be that dockerd, or we would restart the wrong one.
  const endpoint = normalize(process.env['DOCKER_HOST'] || 'unix:///var/run/docker.sock');
  if (!hostsOf(argv).map(normalize).includes(endpoint)) {
    t.fail(`the dockerd in ${pidfile} (pid ${pid}: ${argv.join(' ')}) does not serve ${endpoint}, the engine this run uses`);
    return;
  }
  t.comment(`dockerd pid ${pid}: ${argv.join(' ')} (cwd ${cwd})`);

  await ensureImages('pause', 'node-base', 'example');
  await forceRemovePod(POD);
  t.teardown(() => forceRemovePod(POD).catch(() => undefined));
  // Everything else on this dockerd would be cut off by the restart: wait (bounded) for it to end.
  const others = await waitFor('other containers on this dockerd to stop', othersRunning, (l) => l.length === 0, 60_000).catch(() => undefined);
  if (!others) {
    t.fail(`other containers run on this dockerd (${(await othersRunning()).join(', ')}); restarting it would break them: run this test alone`);
    return;
  }

  const port = await freePort();
  const created = await cli(['create', POD, '--port', `127.0.0.1:${port}:8080`, '--replicas', '3', '--quiet']);
  t.equal(created.code, 0, `create exits 0 (${created.stderr.trim()})`);
  t.same([...(await spread(port, 60)).keys()].sort(), hellos([1, 2, 3]), 'the pod serves before the restart');

  // Stop: SIGTERM, and dockerd stops the containers (each with its stop timeout) and containerd.
  // Start it again as it was: same argv, environment and cwd; its own session; not our child.
  let current = pid;
  const restartDockerd = async (t: Tap.Test): Promise<void> => {
    const stopping = Date.now();
    process.kill(current, 'SIGTERM');
    await waitFor(`dockerd ${current} to exit`, async () => alive(current), (a) => !a, 90_000);
    const stopS = (Date.now() - stopping) / 1000;
    const log = openSync(LOG, 'a');
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env, detached: true, stdio: ['ignore', log, log] });
    closeSync(log);
    child.unref();
    current = child.pid!;
    await waitFor('the new dockerd to answer', () => dockerRun(['info', '--format', '{{.ServerVersion}}'], 10_000), () => true, 60_000);
    // Whoever started the first one stops the one that runs now.
    writeFileSync(pidfile, `${current}\n`);
    t.comment(`dockerd stopped in ${stopS.toFixed(1)} s; restarted as pid ${current} (log ${LOG}), answering ${((Date.now() - stopping) / 1000).toFixed(1)} s after the SIGTERM`);
  };
  t.teardown(() => {
    if (alive(current) && readFileSync(pidfile, 'utf8').trim() !== String(current)) writeFileSync(pidfile, `${current}\n`);
  });
  const states = async () => (await docker('ps', '-a', '--filter', `label=io.reuseport-pod.pod=${POD}`, '--format', '{{.Names}} {{.State}}')).split('\n').filter(Boolean).sort();
  const servesAll = (timeoutMs: number) =>
    waitFor('all three replicas to answer', () => spread(port, 60), (m) => [...m.keys()].sort().join() === hellos([1, 2, 3]).join(), timeoutMs).then(
      () => true,
      () => false,
    );

  t.test('restart 1, no supervisor: the restart policies, then `repair` if Docker left replicas down', async (t) => {
    await restartDockerd(t);
    // Docker restores the pod's containers by their restart policies, in no particular order.
    await sleep(3_000);
    t.comment(`3 s after dockerd answered: ${(await states()).join(', ')}`);
    const servesAlone = await servesAll(10_000);
    let repaired = 'not needed';
    if (!servesAlone) {
      const ps = JSON.parse((await cli(['ps', POD, '--json'])).stdout || '{"replicas":[]}') as { replicas: Array<{ name: string; state: string; health: string }> };
      const r = await cli(['repair', POD, '--json']);
      t.equal(r.code, 0, `repair exits 0 (${r.stderr.trim()})`);
      repaired = `needed: before it, ${ps.replicas.map((x) => `${x.name} ${x.state}/${x.health}`).join(', ')}; repair: ${(JSON.parse(r.stdout || '{}') as { actions?: string[] }).actions?.join('; ')}`;
    }
    t.comment(`dockerd restart: repair ${repaired}`);
    t.ok(await servesAll(20_000), `the pod serves again after the dockerd restart (repair ${servesAlone ? 'not needed' : 'needed'})`);
    t.same(await podContainers(POD, 'replica'), [1, 2, 3].map((n) => `${POD}-${n}`), 'the same three replicas');
    t.match(JSON.parse((await cli(['ls', '--json'])).stdout).find((p: { name: string }) => p.name === POD), { ready: 3, desired: 3, state: 'running' });
  });

  t.test('restarts 2 and 3, with `supervise` running across them: the pod serves again with no one typing anything', async (t) => {
    const sup = spawn(process.execPath, [cliPath, 'supervise', POD, '--interval', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    sup.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    sup.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const exited = new Promise<void>((resolve) => sup.once('exit', () => resolve()));
    t.teardown(async () => {
      sup.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000).then(() => sup.kill('SIGKILL'))]);
    });
    await waitFor('the supervisor to watch engine events', async () => out, (o) => /watching engine events/.test(o), 15_000);
    // Twice: a repair the supervisor starts while dockerd shuts down may lose its lock's release.
    for (const round of [1, 2]) {
      const stopping = Date.now();
      await restartDockerd(t);
      const served = await servesAll(30_000);
      t.comment(`round ${round} with supervise: ${served ? 'serving all 3 again' : 'NOT serving all 3'} ${((Date.now() - stopping) / 1000).toFixed(1)} s after the SIGTERM to dockerd; containers: ${(await states()).join(', ')}`);
      t.ok(served, `round ${round}: the pod serves again (all 3 replicas) within 30 s of dockerd answering`);
      // A repair that the shutdown interrupted must not leave the pod locked.
      const locks = await waitFor('the pod to be left unlocked', () => podContainers(POD, 'lock'), (l) => l.length === 0, 30_000).catch(() => podContainers(POD, 'lock'));
      t.same(locks, [], `round ${round}: no lock left behind`);
    }
    // Docker's restart policies may have brought everything back by themselves.
    const repairs = out.match(new RegExp(`${POD}: (started|restarted|re-created|added)[^\\n]*`, 'g')) ?? [];
    t.comment(`with supervise: ${repairs.length ? `the supervisor repaired: ${repairs.join(' / ')}` : 'no repair was needed (the restart policies sufficed)'}`);
    t.comment(`supervise log:\n${out.trim().replace(/^/gm, '  ')}`);
  });
});
