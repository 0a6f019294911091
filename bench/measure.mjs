// What the Docker benchmarks share (bench/datapath.mjs, bench/dnat.mjs): the CPU of processes from
// /proc, wrk with its own CPU measured, how busy the rest of the machine was during a run, interleaved
// rounds that keep only quiet runs, and where dockerd's userland proxy stands.
import { execFile, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const repo = fileURLToPath(new URL('..', import.meta.url));
const clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
export const docker = (...a) => execFileSync('docker', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

// ---- dockerd's userland proxy --------------------------------------------------------------------
/** The dockerd serving DOCKER_HOST (default unix:///var/run/docker.sock): others may run their own. */
export function dockerdProcess() {
  const want = (process.env.DOCKER_HOST || 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '');
  const found = [];
  for (const pid of allPids()) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'dockerd') continue;
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const hosts = [];
      argv.forEach((a, i) => {
        if (a === '-H' || a === '--host') hosts.push(argv[i + 1]);
        else if (/^(-H|--host)=/.test(a)) hosts.push(a.replace(/^(-H|--host)=/, ''));
      });
      if (hosts.length === 0) hosts.push('unix:///var/run/docker.sock');
      if (hosts.some((h) => h.replace(/^unix:\/\//, '') === want)) found.push({ pid, argv });
    } catch {}
  }
  return found.length === 1 ? found[0] : undefined;
}

export function daemonJsonProxy() {
  try {
    const conf = JSON.parse(readFileSync('/etc/docker/daemon.json', 'utf8'));
    return conf['userland-proxy'];
  } catch {
    return undefined;
  }
}

/** 'on' | 'off' from dockerd's arguments and /etc/docker/daemon.json (default: on). */
export function proxyMode(argv) {
  for (let i = 0; i < argv.length; i++) {
    const m = /^--userland-proxy(?:=(.*))?$/.exec(argv[i]);
    if (m) {
      const v = m[1] ?? (argv[i + 1] && !argv[i + 1].startsWith('-') ? argv[i + 1] : 'true');
      return /^(false|0)$/i.test(v) ? 'off' : 'on';
    }
  }
  const fromFile = daemonJsonProxy();
  return fromFile === false ? 'off' : 'on';
}

// ---- processes and CPU -------------------------------------------------------------------------
export function procStat(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) }; // utime + stime
}
export function allPids() {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}
/** pid and its descendants (nginx's master and its worker). */
export function tree(root) {
  const parent = new Map();
  for (const pid of allPids()) {
    try {
      parent.set(pid, procStat(pid).ppid);
    } catch {}
  }
  const out = [root];
  for (let changed = true; changed; ) {
    changed = false;
    for (const [pid, ppid] of parent) if (out.includes(ppid) && !out.includes(pid)) (out.push(pid), (changed = true));
  }
  return out;
}
export function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      ticks += procStat(pid).ticks;
    } catch {
      throw new Error(`process ${pid} is gone: a server died during the run`);
    }
  }
  return ticks / clkTck;
}
export const hostPid = (name) => Number(docker('inspect', '-f', '{{.State.Pid}}', name));
/** docker-proxy processes serving host port `port` (userland proxy on), by their arguments. */
export function proxyPids(port) {
  const out = [];
  for (const pid of allPids()) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'docker-proxy') continue;
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const i = argv.indexOf('-host-port');
      if (i >= 0 && Number(argv[i + 1]) === port) out.push(pid);
    } catch {}
  }
  return out;
}

// ---- load --------------------------------------------------------------------------------------
export function toMs(s) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(s);
  return m ? Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2]] : NaN;
}
const closeLua = `${repo}bench/datapath-close.lua`;
/** wrk -t1 against 127.0.0.1:port, keep-alive or `Connection: close`; `children` tracks it for a Ctrl-C. */
export function wrk(port, mode, seconds, { connections, children }) {
  const argv = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', ...(mode === 'close' ? ['-s', closeLua] : []), `http://127.0.0.1:${port}/`];
  return new Promise((resolve, reject) => {
    // /usr/bin/time reports wrk's own CPU on its last stderr line.
    const child = execFile('/usr/bin/time', ['-f', 'wrk-cpu %U %S', 'wrk', ...argv], { timeout: (seconds + 15) * 1000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      children.delete(child);
      if (err) return reject(new Error(`wrk ${argv.join(' ')}: ${err.message} ${stderr}`));
      const num = (re) => Number(re.exec(stdout)?.[1] ?? NaN);
      const t = /wrk-cpu ([\d.]+) ([\d.]+)/.exec(stderr);
      const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
      resolve({
        requests: num(/(\d+) requests in/),
        rps: num(/Requests\/sec:\s+([\d.]+)/),
        p50: toMs(/^\s+50%\s+(\S+)/m.exec(stdout)?.[1] ?? ''),
        p99: toMs(/^\s+99%\s+(\S+)/m.exec(stdout)?.[1] ?? ''),
        errors: (num(/Non-2xx or 3xx responses: (\d+)/) || 0) + (errors ? errors.slice(1).reduce((s, n) => s + Number(n), 0) : 0),
        wrkCpu: t ? Number(t[1]) + Number(t[2]) : NaN,
      });
    });
    children.add(child);
  });
}

/** Machine-wide CPU seconds from /proc/stat: what processes can be charged with, and steal. */
export function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user+nice+system+irq+softirq: a task's stime includes the ticks its softirqs took, which the
  // machine counts under softirq.
  return { proc: (f[0] + f[1] + f[2] + f[5] + f[6]) / clkTck, steal: (f[7] ?? 0) / clkTck, at: performance.now() / 1000 };
}

export async function busy(ms = 300) {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { idle: f[3] + f[4], total: f.reduce((a, b) => a + b, 0) };
  };
  const a = read();
  await delay(ms);
  const b = read();
  return 1 - (b.idle - a.idle) / Math.max(1, b.total - a.total);
}
let quietBudgetMs = 90_000; // over the whole run, so that a busy machine cannot stretch it past ~10 min
/** Other engineers share this machine: wait (up to 10 s) until at most 35 % of the CPU is busy. */
export async function waitQuiet() {
  const start = Date.now();
  const until = start + Math.min(10_000, quietBudgetMs);
  let b = await busy();
  while (b > 0.35 && Date.now() < until) b = await busy(500);
  quietBudgetMs -= Date.now() - start;
  return b;
}

/** New connection per request: which instances answer on this port? */
export async function instances(port, n = 24) {
  const seen = new Map();
  for (let i = 0; i < n; i++) {
    const body = await new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 5000 }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d)).on('end', () => resolve(text.trim()));
      });
      req.on('error', reject).on('timeout', () => req.destroy(new Error(`127.0.0.1:${port}: timeout`)));
    });
    const name = /^Hello from (\S+)/.exec(body)?.[1] ?? `?${body.slice(0, 40)}`;
    seen.set(name, (seen.get(name) ?? 0) + 1);
  }
  return seen;
}

export async function waitHttp(port, timeoutMs = 20_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await instances(port, 1);
    } catch (err) {
      if (Date.now() > until) throw err;
      await delay(100);
    }
  }
}

export function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer().once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};


/**
 * Measures every running configuration in every mode, interleaved, order rotated each round.
 * `running`: [{ config: { id }, port, servers: pids, proxies: pids, extra?: pids }]. Resolves with the
 * runs and `pool(id, mode)`, the runs the statistics should use.
 */
export async function measureRounds({ running, modes, rounds, duration, warmup, budgetS, foreignMax, minQuiet, connections, children, say }) {
  const FOREIGN_MAX = foreignMax;
  const MIN_QUIET = minQuiet;
  const started = Date.now();
  const run1 = (port, mode, seconds) => wrk(port, mode, seconds, { connections, children });
  for (const r of running) for (const m of modes) await run1(r.port, m, warmup);
  // A run is "quiet" when other processes used at most FOREIGN_MAX cores during it (process CPU of
  // the whole machine minus the servers', docker-proxy's and wrk's own). After the --rounds
  // interleaved rounds, more rounds run for the (configuration, mode) pairs with fewer than
  // MIN_QUIET quiet runs, until each has them or --budget seconds have passed. Statistics use the
  // quiet runs when there are at least MIN_QUIET of them, else all runs (and say so).
  const runs = [];
  const isQuiet = (x) => x.foreign <= FOREIGN_MAX;
  const quietCount = (id, m) => runs.filter((x) => x.id === id && x.mode === m && isQuiet(x)).length;
  const deadline = started + budgetS * 1000;
  for (let round = 0; round < rounds || Date.now() < deadline; round++) {
    let ran = 0;
    for (const m of modes) {
      for (let k = 0; k < running.length; k++) {
        const r = running[(k + round) % running.length];
        if (round >= rounds && (quietCount(r.config.id, m) >= MIN_QUIET || Date.now() > deadline)) continue;
        await run1(r.port, m, warmup);
        await waitQuiet();
        const m0 = machineCpu();
        const before = { server: cpuSeconds(r.servers), proxy: cpuSeconds(r.proxies), extra: r.extra ? cpuSeconds(r.extra) : 0 };
        const w = await run1(r.port, m, duration);
        const cpu = { server: cpuSeconds(r.servers) - before.server, proxy: cpuSeconds(r.proxies) - before.proxy, extra: r.extra ? cpuSeconds(r.extra) - before.extra : 0 };
        const m1 = machineCpu();
        const wall = m1.at - m0.at;
        const foreign = (m1.proc - m0.proc - cpu.server - cpu.proxy - w.wrkCpu) / wall;
        const steal = (m1.steal - m0.steal) / wall;
        const per = (x) => (x / w.requests) * 1e5;
        const run = { round, mode: m, id: r.config.id, ...w, server100k: per(cpu.server), proxy100k: per(cpu.proxy), extra100k: per(cpu.extra), total100k: per(cpu.server + cpu.proxy), wrkCores: w.wrkCpu / wall, foreign, steal };
        runs.push(run);
        ran++;
        say(
          `round ${round + 1} ${m.padEnd(10)} ${r.config.id.padEnd(8)} ${w.rps.toFixed(0).padStart(6)} req/s p50 ${w.p50} ms p99 ${w.p99} ms ` +
            `server ${per(cpu.server).toFixed(2)} CPU-s/100k${r.extra ? ` (nginx ${per(cpu.extra).toFixed(2)})` : ''}${r.proxies.length ? ` docker-proxy ${per(cpu.proxy).toFixed(2)}` : ''}` +
            ` wrk ${run.wrkCores.toFixed(2)} cores, others ${foreign.toFixed(2)} cores${steal > 0.01 ? `, steal ${steal.toFixed(2)}` : ''}${w.errors ? ` errors ${w.errors}` : ''}` +
            (isQuiet(run) ? '' : ' (not quiet)'),
        );
      }
    }
    if (round >= rounds && ran === 0) break;
  }
  const pool = (id, m) => {
    const all = runs.filter((x) => x.id === id && x.mode === m);
    const quiet = all.filter(isQuiet);
    return quiet.length >= MIN_QUIET ? quiet : all;
  };
  const pairs = modes.flatMap((m) => running.map((r) => ({ m, id: r.config.id })));
  const allQuiet = pairs.every(({ m, id }) => quietCount(id, m) >= MIN_QUIET);
  const noisy = pairs.filter(({ m, id }) => quietCount(id, m) < MIN_QUIET).length;
  const quietNote = pairs.map(({ m, id }) => `${id} ${m}: ${quietCount(id, m)}/${runs.filter((x) => x.id === id && x.mode === m).length}`).join(', ');
  return { runs, pool, allQuiet, noisy, quietNote, isQuiet, pairs, started };
}

/** Medians (and the req/s range) of a pool of runs, CPU seconds per 100k requests. */
export function summarize(runs) {
  return {
    rps: median(runs.map((x) => x.rps)),
    rpsMin: Math.min(...runs.map((x) => x.rps)),
    rpsMax: Math.max(...runs.map((x) => x.rps)),
    p50: median(runs.map((x) => x.p50)),
    p99: median(runs.map((x) => x.p99)),
    server: median(runs.map((x) => x.server100k)),
    extra: median(runs.map((x) => x.extra100k)),
    proxy: median(runs.map((x) => x.proxy100k)),
    total: median(runs.map((x) => x.total100k)),
    errors: runs.reduce((a, x) => a + x.errors, 0),
  };
}

/**
 * What both data-path benchmarks do before measuring: check the built CLI and the images, build the
 * nginx image, remove leftovers (`cleanup()` returns how many), report dockerd's proxy mode, and
 * start every configuration on consecutive free ports from `basePort`, each checked for spread.
 */
export async function startConfigs({ repo, images, cleanup, prefix, configs, basePort, say }) {
  if (!readdirSync(`${repo}dist/src/cli`).includes('main.js')) throw new Error('dist/src/cli/main.js is missing: run `npm run build` first');
  for (const image of images) {
    try {
      docker('image', 'inspect', image);
    } catch {
      throw new Error(`image ${image} is missing: run scripts/build-images.sh first`);
    }
  }
  const nginxImage = execFileSync('bash', [`${repo}bench/nginx/build-image.sh`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop();
  const left = cleanup();
  if (left) say(`removed ${left} ${prefix} object(s) left from an earlier run`);
  const d = dockerdProcess();
  const mode = d ? proxyMode(d.argv) : 'unknown';
  const dockerdArgs = d ? d.argv.join(' ') : '(dockerd not found in /proc)';
  say(`dockerd: ${dockerdArgs} -> userland proxy ${mode}`);

  const running = [];
  for (const [i, c] of configs.entries()) {
    const port = basePort + i;
    if (!(await portFree(port))) throw new Error(`port 127.0.0.1:${port} is taken; pass --port BASE (${configs.length} consecutive free ports)`);
    const r = await c.start(port, nginxImage);
    const proxies = proxyPids(port);
    const spread = await instances(port);
    say(`${c.id}: 127.0.0.1:${port}, server pids ${r.servers.join(',')}${proxies.length ? `, docker-proxy pids ${proxies.join(',')}` : ', no docker-proxy'}; 24 new connections -> ${[...spread].map(([k, v]) => `${k}:${v}`).join(' ')}`);
    running.push({ config: c, port, ...r, proxies, spread });
  }
  return { running, mode, dockerdArgs, nginxImage };
}

/** The results table rows (one per mode and configuration) and the summaries behind them, by `${mode}/${id}`. */
export function resultRows(modes, running, pool) {
  const summary = {};
  const rows = [];
  for (const m of modes) {
    for (const r of running) {
      const s = summarize(pool(r.config.id, m));
      summary[`${m}/${r.config.id}`] = s;
      rows.push(
        `| ${m} | ${r.config.label} | ${s.rps.toFixed(0)} (${s.rpsMin.toFixed(0)}–${s.rpsMax.toFixed(0)}) | ${s.p50.toFixed(2)} | ${s.p99.toFixed(2)} | ` +
          `${s.server.toFixed(2)}${r.extra ? ` (nginx ${s.extra.toFixed(2)})` : ''} | ${r.proxies.length ? s.proxy.toFixed(2) : '— (none)'} | ${s.total.toFixed(2)} | ${s.errors} |`,
      );
    }
  }
  return { rows, get: (m, id) => summary[`${m}/${id}`] };
}
