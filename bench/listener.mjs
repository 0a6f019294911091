// Listener benchmark: plain Node vs the addon path vs reuseport replicas vs cluster, keep-alive and
// connection-per-request, all against 127.0.0.1 in one run. Not a test: it prints a Markdown table
// and refreshes the `## Listener throughput` section of docs/benchmarks.md (unless --no-docs).
//
//   npm run build && node bench/listener.mjs [--duration 5] [--warmup 2] [--reps 3] [--connections 50]
//       [--quiet-busy 0.35] [--quiet-wait 15] [--json out.json] [--no-docs]
//
// Each wrk run is bounded (-d) and killed if it overruns. Configurations are interleaved and the
// order rotates each repetition, so that a slow minute of a noisy machine hits all of them alike;
// the table reports medians. Server CPU is utime+stime from /proc/<pid>/stat of every server
// process (cluster primary and workers included), read just before and after each measured run.
import { execFileSync, execFile, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { writeSection } from './docs-section.mjs';
import { flag, helpAndExitIfAsked } from './usage.mjs';

helpAndExitIfAsked(import.meta.url);

const argv = process.argv.slice(2);
const duration = Number(flag('duration', 5));
const warmup = Number(flag('warmup', 2));
const reps = Number(flag('reps', 3));
const connections = Number(flag('connections', 50));
const jsonOut = flag('json');
const writeDocs = !argv.includes('--no-docs');
// Others share this machine; each sample waits (up to quietWaitS) for their load to drop below this.
const quietBusy = Number(flag('quiet-busy', 0.35));
const quietWaitS = Number(flag('quiet-wait', 15));
const docsFile = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));

const serversJs = fileURLToPath(new URL('./servers.mjs', import.meta.url));
const exampleJs = fileURLToPath(new URL('../dist/examples/http-server.js', import.meta.url));
const clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

const configs = [
  { id: 'a', label: 'plain http.createServer().listen, 1 process', spawn: (port) => [baseline('plain', port)] },
  { id: 'b', label: 'library, addon path, 1 process', spawn: (port) => [baseline('addon', port)] },
  { id: 'c', label: 'example server, 2 reuseport processes', spawn: (port) => [example(port, 'c1'), example(port, 'c2')] },
  { id: 'd', label: 'example server, 1 process', spawn: (port) => [example(port, 'd1')] },
  { id: 'e', label: 'Node cluster, 2 workers (round-robin)', spawn: (port) => [baseline('cluster', port)] },
];
const modes = [
  { id: 'keep-alive', headers: [] },
  { id: 'close', headers: ['-H', 'Connection: close'] },
];

const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Resolves with the pids of the processes to charge CPU to, once the server accepts. */
function readyLine(child, re, name) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: not ready after 10 s`)), 10_000);
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = re.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ pids: m[1].split(',').map(Number), line });
      }
    });
    child.once('exit', (code) => reject(new Error(`${name} exited ${code} before ready: ${stderr.trim()}`)));
  });
}

function baseline(mode, port) {
  const child = track(spawn(process.execPath, [serversJs, mode, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] }));
  return { child, ready: readyLine(child, /^ready ([\d,]+)$/, mode) };
}

function example(port, instance) {
  const env = { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: String(port), INSTANCE: instance };
  const child = track(spawn(process.execPath, [exampleJs], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  return { child, ready: readyLine(child, /listening on .*\(reuseport: \w+, pid (\d+)\)$/, instance) };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Share of all cores busy over the next `ms`, from /proc/stat. */
async function machineBusy(ms = 500) {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + f[4]; // idle + iowait
    return { idle, total: f.reduce((x, y) => x + y, 0) };
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  return b.total === a.total ? 0 : 1 - (b.idle - a.idle) / (b.total - a.total);
}

/** Waits until other work leaves the cores mostly idle (our servers are idle between runs). Returns the last reading. */
async function waitQuiet() {
  const deadline = Date.now() + quietWaitS * 1000;
  let busy = await machineBusy();
  while (busy > quietBusy && Date.now() < deadline) busy = await machineBusy();
  return busy;
}

function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    // The command name may contain spaces or ')'; fields are counted from after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of proc(5))
  }
  return ticks / clkTck;
}

function toMs(s) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(s);
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2]];
}

function wrk(port, mode, seconds) {
  const argv = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', ...mode.headers, `http://127.0.0.1:${port}/`];
  return new Promise((resolve, reject) => {
    execFile('wrk', argv, { timeout: (seconds + 15) * 1000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`wrk ${argv.join(' ')}: ${err.message} ${stderr}`));
      const num = (re) => Number(re.exec(stdout)?.[1] ?? NaN);
      const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
      resolve({
        requests: num(/(\d+) requests in/),
        seconds: toMs(/requests in ([\d.]+\w+),/.exec(stdout)?.[1] ?? '') / 1000,
        rps: num(/Requests\/sec:\s+([\d.]+)/),
        p50: toMs(/^\s+50%\s+(\S+)/m.exec(stdout)?.[1] ?? ''),
        p99: toMs(/^\s+99%\s+(\S+)/m.exec(stdout)?.[1] ?? ''),
        non2xx: num(/Non-2xx or 3xx responses: (\d+)/) || 0,
        socketErrors: errors ? errors.slice(1).reduce((s, n) => s + Number(n), 0) : 0,
      });
    });
  });
}

async function stop(procs) {
  await Promise.all(
    procs.map(
      ({ child }) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
          child.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

const loadBefore = os.loadavg();


// Start every configuration once, on its own port; idle servers cost nothing measurable.
const running = [];
for (const config of configs) {
  const port = await freePort();
  const procs = config.spawn(port);
  const ready = await Promise.all(procs.map((p) => p.ready));
  const path = /reuseport: (\w+)/.exec(ready[0].line)?.[1];
  running.push({ config, port, procs, pids: ready.flatMap((r) => r.pids), path });
  process.stderr.write(`${config.id}: ${config.label} on :${port}, pids ${ready.flatMap((r) => r.pids).join(',')}${path ? `, reuseport: ${path}` : ''}\n`);
}

try {
  for (const r of running) for (const mode of modes) await wrk(r.port, mode, warmup);

  const runs = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const mode of modes) {
      for (let k = 0; k < running.length; k++) {
        const r = running[(k + rep) % running.length];
        const busyBefore = await waitQuiet();
        const before = cpuSeconds(r.pids);
        const w = await wrk(r.port, mode, duration);
        const cpu = cpuSeconds(r.pids) - before;
        const run = { rep, config: r.config.id, mode: mode.id, ...w, cpuSeconds: cpu, cpuPer100k: (cpu / w.requests) * 1e5, busyBefore };
        runs.push(run);
        process.stderr.write(
          `rep ${rep + 1} ${mode.id.padEnd(10)} ${r.config.id}: busy before ${(busyBefore * 100).toFixed(0)}% ${w.rps.toFixed(0)} req/s p50 ${w.p50} ms p99 ${w.p99} ms cpu ${cpu.toFixed(2)} s` +
            `${w.non2xx || w.socketErrors ? ` (non-2xx ${w.non2xx}, socket errors ${w.socketErrors})` : ''}\n`,
        );
      }
    }
  }

  const summary = [];
  for (const mode of modes) {
    for (const r of running) {
      const mine = runs.filter((x) => x.mode === mode.id && x.config === r.config.id);
      summary.push({
        mode: mode.id,
        config: r.config.id,
        label: r.config.label + (r.path ? ` (${r.path})` : ''),
        rps: median(mine.map((x) => x.rps)),
        rpsMin: Math.min(...mine.map((x) => x.rps)),
        rpsMax: Math.max(...mine.map((x) => x.rps)),
        p50: median(mine.map((x) => x.p50)),
        p99: median(mine.map((x) => x.p99)),
        cpuPer100k: median(mine.map((x) => x.cpuPer100k)),
        errors: mine.reduce((s, x) => s + x.non2xx + x.socketErrors, 0),
      });
    }
  }
  const get = (mode, config) => summary.find((s) => s.mode === mode && s.config === config);

  const lines = [];
  lines.push(`| mode | config | req/s (median) | min–max | × (a) | p50 ms | p99 ms | server CPU s / 100k req | errors |`);
  lines.push(`| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`);
  for (const s of summary) {
    const base = get(s.mode, 'a');
    lines.push(
      `| ${s.mode} | (${s.config}) ${s.label} | ${s.rps.toFixed(0)} | ${s.rpsMin.toFixed(0)}–${s.rpsMax.toFixed(0)} | ${(s.rps / base.rps).toFixed(2)} | ` +
        `${s.p50.toFixed(2)} | ${s.p99.toFixed(2)} | ${s.cpuPer100k.toFixed(2)} | ${s.errors} |`,
    );
  }
  lines.push('');
  const check = (ok, text) => lines.push(`- ${ok ? 'met' : 'NOT met'}: ${text}`);
  for (const mode of modes) {
    const ratio = get(mode.id, 'b').rps / get(mode.id, 'a').rps;
    check(ratio >= 0.98, `${mode.id}: addon req/s ≥ 0.98× plain: ${ratio.toFixed(3)}×`);
  }
  for (const one of ['d', 'a']) {
    const ratio = get('close', 'c').cpuPer100k / get('close', one).cpuPer100k;
    check(ratio <= 1.05, `close: 2 reuseport processes CPU/100k ≤ 1.05× one process (${one}): ${ratio.toFixed(3)}×`);
  }
  for (const mode of modes) {
    const ratio = get(mode.id, 'e').rps / get(mode.id, 'a').rps;
    check(ratio >= 2.5, `${mode.id}: cluster req/s expected ~2.5× one process (a): ${ratio.toFixed(2)}×`);
    const reuse = get(mode.id, 'c').rps / get(mode.id, 'd').rps;
    lines.push(`- ${mode.id}: 2 reuseport processes vs 1 (same example server): ${reuse.toFixed(2)}× req/s`);
  }

  const wrkVersion = spawnSync('wrk', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0].replace(/ Copyright.*/, '').trim();
  // Options that change the measurement, not where the output goes.
  const shown = argv.filter((a, i) => a !== '--no-docs' && a !== '--json' && argv[i - 1] !== '--json');
  const cmd = `npm run build && node bench/listener.mjs${shown.length ? ` ${shown.join(' ')}` : ''}`;
  const body = [
    `Measured with \`${cmd}\` on ${new Date().toISOString().slice(0, 10)}.`,
    '',
    `- machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}, ${wrkVersion}`,
    `- load: \`wrk -t1 -c${connections} -d${duration}s --latency\` against 127.0.0.1, keep-alive and with \`-H 'Connection: close'\` (one connection per request); ` +
      `${warmup} s warm-up per configuration and mode, then ${reps} repetition${reps === 1 ? '' : 's'} with the configurations interleaved and the order rotated; medians, with the min–max of req/s`,
    `- load average (1 min) ${loadBefore[0].toFixed(2)} before the run, ${os.loadavg()[0].toFixed(2)} after: other work on this shared machine is part of the noise. ` +
      `Each sample first waited up to ${quietWaitS} s for the cores to be at most ${Math.round(quietBusy * 100)} % busy; ` +
      `${runs.filter((x) => x.busyBefore > quietBusy).length} of ${runs.length} samples still started above that`,
    `- server CPU: utime+stime from /proc/<pid>/stat of every server process (cluster primary and workers included) just before and after each measured run, per 100k requests`,
    `- configurations: (a) \`http.createServer(h).listen(port)\`, one process, no reuseport; (b) the library's createServer with prefer: 'addon', one process, same handler as (a); ` +
      `(c) two processes of examples/http-server.ts sharing the port (SO_REUSEPORT, the path 'auto' picks in this Node); (d) one process of the same example, i.e. (a)'s layout with (c)'s code, so (c) vs (d) isolates the second replica; ` +
      `(e) Node cluster, primary + 2 workers, round-robin (the primary accepts and passes each connection on)`,
    `- wrk's one thread keeps one of the ${os.cpus().length} cores busy, so the servers share what is left: on 2 cores, two server processes cannot add throughput the way they would on an idle multi-core host, and the "cluster ~2.5×" expectation cannot show here`,
    '',
    ...lines,
    '',
    'How to read it: (b) differs from (a) only in how the listening socket is made (socket, SO_REUSEPORT, bind, listen in the addon, then ' +
      "`server.listen({ fd })`); from then on libuv accepts and serves exactly as in (a), so a gap between them that the min–max ranges " +
      'overlap is noise. CPU per 100k requests moves less with other load than req/s does, so it is the better figure to compare on a shared machine.',
  ].join('\n');
  console.log(body);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ runs, summary }, null, 2));
  if (writeDocs) {
    writeSection(docsFile, '## Listener throughput', body);
    process.stderr.write('listener: wrote the "## Listener throughput" section of docs/benchmarks.md\n');
  }
} finally {
  await Promise.all(running.map((r) => stop(r.procs)));
}

/** Replaces (or appends) the section that starts with `heading`, up to the next `## ` heading. */
