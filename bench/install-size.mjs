// What `npm install` costs a user, for each of the two packages: the number of installed packages,
// the MB of node_modules (du) and the seconds of the install. Packs this checkout (after
// `npm run build`), then installs into fresh folders, as a user's app would, with an npm whose PATH
// holds node, npm and sh only (no compiler: what a node:*-slim image has), install scripts on:
//   (a) @reuseport-pod/listener alone: an app that only needs listen()
//   (b) reuseport-pod, with the listener's tarball in the same command (no registry has them yet)
// Third-party packages come from the npm registry through npm's cache.
//
//   node bench/install-size.mjs                    # npm's default: revalidates cached metadata
//   node bench/install-size.mjs --prefer-offline   # cached metadata as is (less network in the figure)
//   node bench/install-size.mjs --runs 5 --json    # seconds: the median of N fresh installs (default 3)
// test/install.ts counts its own installs with installedFigures() from here.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Installed packages under node_modules, nested ones included (npm's own folders not). */
export function countPackages(nodeModules) {
  if (!existsSync(nodeModules)) return 0;
  let n = 0;
  for (const name of readdirSync(nodeModules)) {
    if (name.startsWith('.')) continue;
    const dirs = name.startsWith('@') ? readdirSync(join(nodeModules, name)).map((s) => join(nodeModules, name, s)) : [join(nodeModules, name)];
    for (const dir of dirs) {
      if (!existsSync(join(dir, 'package.json'))) continue;
      n += 1 + countPackages(join(dir, 'node_modules'));
    }
  }
  return n;
}

function run(cmd, args, opts) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    execFile(cmd, args, { maxBuffer: 16 << 20, timeout: 300_000, ...opts }, (err, stdout, stderr) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, output: stdout + stderr, seconds });
    });
  });
}

/** { packages, mb } of an app folder's node_modules; mb from `du -sk` (disk usage, as in an image layer). */
export async function installedFigures(appDir) {
  const nodeModules = join(appDir, 'node_modules');
  const du = await run('du', ['-sk', nodeModules], {});
  const kb = Number(du.output.split(/\s/)[0]);
  if (du.code !== 0 || !Number.isFinite(kb)) throw new Error(`du -sk ${nodeModules} failed: ${du.output}`);
  return { packages: countPackages(nodeModules), mb: Math.round((kb / 1024) * 10) / 10 };
}

/** One line for a report: "4 packages, 0.9 MB, 1.2 s". */
export function describeFigures(f) {
  return `${f.packages} packages, ${f.mb} MB, ${f.seconds.toFixed(1)} s`;
}

function npmCli() {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'npm'))) return realpathSync(join(dir, 'npm'));
  }
  throw new Error('npm is not on PATH');
}

async function main() {
  const args = process.argv.slice(2);
  let runs = 3;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--runs') {
      runs = Number(args[++i]);
      if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw new Error(`--runs must be an integer from 1 to 20; received ${JSON.stringify(args[i])}`);
    } else if (!['--prefer-offline', '--json'].includes(args[i])) {
      throw new Error(`unknown option ${args[i]}; use --prefer-offline, --runs N, --json`);
    }
  }
  const preferOffline = args.includes('--prefer-offline');
  const repo = fileURLToPath(new URL('..', import.meta.url));
  const tmp = mkdtempSync(join(tmpdir(), 'reuseport-pod-install-size-'));
  try {
    const bin = join(tmp, 'bin');
    mkdirSync(bin);
    const npm = npmCli();
    symlinkSync(process.execPath, join(bin, 'node'));
    symlinkSync(npm, join(bin, 'npm'));
    symlinkSync(join(dirname(npm), 'npx-cli.js'), join(bin, 'npx'));
    symlinkSync('/bin/sh', join(bin, 'sh'));
    const env = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.toLowerCase().startsWith('npm_') && k !== 'NODE_OPTIONS') env[k] = v;
    Object.assign(env, { PATH: bin, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' });

    const packed = await run(npm, ['pack', '--silent', '--workspaces', '--include-workspace-root', '--pack-destination', tmp], { cwd: repo, env });
    const tarballs = packed.output.trim().split('\n').filter((l) => l.endsWith('.tgz')).map((l) => join(tmp, l));
    const listener = tarballs.find((f) => /reuseport-pod-listener-/.test(f));
    const main = tarballs.find((f) => /\/reuseport-pod-\d/.test(f));
    if (packed.code !== 0 || !listener || !main) throw new Error(`npm pack failed (${packed.code}): ${packed.output}`);

    const packages = [['@reuseport-pod/listener', [listener]], ['reuseport-pod', [listener, main]]];
    const seconds = new Map(packages.map(([name]) => [name, []]));
    const figures = new Map();
    // Interleaved, so that a noisy moment of the machine does not fall on one package only.
    for (let i = 0; i < runs; i++) {
      for (const [name, files] of packages) {
        const dir = join(tmp, `${name.replace(/\W+/g, '-')}-${i}`);
        mkdirSync(dir);
        writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
        const r = await run(join(bin, 'npm'), ['install', ...(preferOffline ? ['--prefer-offline'] : []), ...files], { cwd: dir, env });
        if (r.code !== 0) throw new Error(`npm install of ${name} failed (${r.code}): ${r.output}`);
        seconds.get(name).push(r.seconds);
        figures.set(name, await installedFigures(dir));
        rmSync(dir, { recursive: true, force: true });
      }
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const results = packages.map(([name]) => ({ package: name, ...figures.get(name), seconds: Math.round(median(seconds.get(name)) * 10) / 10, runs: seconds.get(name).map((x) => Math.round(x * 10) / 10) }));
    const how = `npm ${(await run(npm, ['--version'], { env })).output.trim()}, node ${process.version}, ${preferOffline ? '--prefer-offline' : 'default cache revalidation'}, install scripts on, no compiler on PATH; seconds: median of ${runs}`;
    if (args.includes('--json')) {
      console.log(JSON.stringify({ how, results }, null, 2));
    } else {
      console.log(`| package | installed packages | node_modules MB | npm install s |\n| --- | ---: | ---: | ---: |`);
      for (const r of results) console.log(`| \`${r.package}\` | ${r.packages} | ${r.mb} | ${r.seconds.toFixed(1)} (${r.runs.join(', ')}) |`);
      console.log(`\n(${how})`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main().catch((err) => {
    console.error(`install-size: ${err.message}`);
    process.exit(1);
  });
}
