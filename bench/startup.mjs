// Start-up cost of the CLI: what `--version`, `--help`, `ls` and `ps` take from spawn to exit, next
// to what the engine client alone unavoidably takes for the same engine call (Node's start,
// dockerode loaded the way the CLI loads it, one listContainers). Not a test: it prints a table.
//
//   npm run build && node bench/startup.mjs [--rounds 15] [--ref DIST_DIR] [--port 18990] [--docs]
//
// --docs also writes the table into the `## CLI start-up` section of docs/benchmarks.md.
//
// --ref DIST_DIR adds the same commands run from another build's dist/ (e.g. one of main, to see
// the change): its rows are "ref". Each round runs every command once, in an order rotated every
// round, so that the machine's drift spreads over all of them; the table gives medians and the
// median of the per-round ratios to the engine-client floor ("+ms" = median of per-round
// differences). `ps` runs on a one-replica pod this benchmark creates (bench-u) and removes.
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeSection } from './docs-section.mjs';
import { flag, helpAndExitIfAsked } from './usage.mjs';

helpAndExitIfAsked(import.meta.url);

const repo = fileURLToPath(new URL('..', import.meta.url));
const rounds = Number(flag('rounds', 15));
const ref = flag('ref', undefined);
const port = Number(flag('port', 18990));
const POD = 'bench-u';
const cli = (dist) => `${dist.replace(/\/$/, '')}/src/cli/main.js`;
const here = cli(`${repo}dist`);

// The engine client alone, as the CLI loads it (dockerode without its BuildKit-session and ssh2
// parts), asking what `ls` asks first: containers carrying the pod label.
const floorScript = `
const { loadDockerode } = await import(${JSON.stringify(`${repo}dist/src/runtime/dockerode.js`)});
const Docker = loadDockerode();
await new Docker().listContainers({ all: true, filters: { label: ['io.reuseport-pod.pod'] } });
process.exit(0);`;
// dockerode loaded the ordinary way, everything eager: what a start cost before.
const eagerScript = `
const { createRequire } = await import('node:module');
const Docker = createRequire(${JSON.stringify(`${repo}package.json`)})('dockerode');
await new Docker().listContainers({ all: true, filters: { label: ['io.reuseport-pod.pod'] } });
process.exit(0);`;

const commands = [
  ['node -e 0', 'node', ['-e', '0']],
  ['engine client: dockerode (deferred parts) + listContainers', 'node', ['--input-type=module', '-e', floorScript]],
  ['dockerode loaded eagerly + listContainers', 'node', ['--input-type=module', '-e', eagerScript]],
  ['reuseport-pod --version', 'node', [here, '--version']],
  ['reuseport-pod --help', 'node', [here, '--help']],
  ['reuseport-pod ls', 'node', [here, 'ls']],
  [`reuseport-pod ps ${POD}`, 'node', [here, 'ps', POD]],
];
if (ref) {
  for (const args of [['--version'], ['--help'], ['ls'], ['ps', POD]]) commands.push([`ref: reuseport-pod ${args.join(' ')}`, 'node', [cli(ref), ...args]]);
}

function timed(cmd, argv) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, argv, { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (code !== 0) reject(new Error(`${cmd} ${argv.join(' ').slice(0, 80)} exited ${code}: ${stderr.trim()}`));
      else resolve(ms);
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const removePod = () => execFileSync('node', [here, 'rm', POD, '--quiet'], { cwd: repo, stdio: 'ignore' });
try {
  execFileSync('node', [here, 'create', POD, '--port', `127.0.0.1:${port}:8080`, '--replicas', '1', '--monitor', '0', '--quiet'], { cwd: repo, stdio: 'inherit' });
  const samples = commands.map(() => []);
  for (const [i] of commands.entries()) await timed(commands[i][1], commands[i][2]); // warm-up: page cache
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < commands.length; k++) {
      const i = (k + r) % commands.length;
      samples[i].push(await timed(commands[i][1], commands[i][2]));
    }
  }
  const floor = samples[1];
  const { loadavg } = await import('node:os');
  const lines = [
    `${rounds} rounds on ${new Date().toISOString().slice(0, 16)}Z, Node ${process.version}, 1-minute load average ${loadavg()[0].toFixed(2)} at the end. ` +
      `Command: \`npm run build && node bench/startup.mjs${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}\`.`,
    '',
    '| command | wall, ms: median (min–max) | per round: / engine client | per round: − engine client, ms |',
    '| --- | ---: | ---: | ---: |',
  ];
  for (const [i, [label]] of commands.entries()) {
    const xs = samples[i];
    const ratio = median(xs.map((x, r) => x / floor[r]));
    const diff = median(xs.map((x, r) => x - floor[r]));
    lines.push(`| \`${label}\` | ${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}) | ${ratio.toFixed(2)}× | ${diff >= 0 ? '+' : ''}${diff.toFixed(0)} |`);
  }
  console.log(lines.join('\n'));
  if (process.argv.includes('--docs')) writeSection(`${repo}docs/benchmarks.md`, '## CLI start-up', lines.join('\n'));
} finally {
  try {
    removePod();
  } catch {
    // not created
  }
}
