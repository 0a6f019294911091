// build: the example app image from Dockerfile.app. Users with a registry get the official node
// image as base; without one (this project's CI) the base is made from the host's own node.
//
// The image holds the example's compiled JavaScript and what it imports at run time: the listener
// package (@reuseport-pod/listener, with the addon prebuilt for the engine's architecture) and its
// one dependency, node-gyp-build; nothing of the launcher. Those files are found through Node's own
// resolution, so the same code builds from a checkout (the listener is the workspace
// packages/listener) and from an installed reuseport-pod (the listener is its sibling in
// node_modules), and copied into a fresh folder laid out as Dockerfile.app expects.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_APP_IMAGE, packageRoot, packageVersion } from '../../package-info.ts';
import type { PodContext } from '../context.ts';
import { ExitCode, PodError } from '../../errors.ts';
import { prebuildArch } from '../state/images.ts';

export const OFFICIAL_BASE = 'node:20-bookworm-slim';
export const localBase = (): string => `reuseport-pod/node-base:${process.versions.node.split('.')[0]}`;

const LISTENER = '@reuseport-pod/listener';

/** The folder of `name`'s package.json as Node resolves it from the package at `from`. */
function packageDir(from: string, name: string): string {
  try {
    return dirname(createRequire(join(from, 'package.json')).resolve(`${name}/package.json`));
  } catch (err) {
    throw new PodError(`cannot build the example image: ${name} is not installed where ${from} can import it; run \`npm install\` (or \`npm ci\`) there`, ExitCode.failure, { cause: err });
  }
}

/** Every file under dir (relative paths, sorted), without what is of no use at run time. */
function runtimeFiles(dir: string, sub = ''): string[] {
  return readdirSync(join(dir, sub)).sort().flatMap((name) => {
    const path = sub ? `${sub}/${name}` : name;
    if (statSync(join(dir, path)).isDirectory()) return runtimeFiles(dir, path);
    return /\.(map|d\.ts|md)$/.test(name) ? [] : [path];
  });
}

/** Copies `files` (relative to `from`) to the same paths under `to`, times kept for the layer cache. */
function copyFiles(from: string, files: string[], to: string): void {
  for (const file of files) {
    mkdirSync(dirname(join(to, file)), { recursive: true });
    cpSync(join(from, file), join(to, file), { preserveTimestamps: true });
  }
}

/**
 * Lays out the build context: Dockerfile, package.json (ESM, as dist/examples is), dist/examples,
 * node_modules/@reuseport-pod/listener and node_modules/node-gyp-build. Returns the context's files.
 */
export function stageContext(dir: string, arch: string): string[] {
  const examples = join(packageRoot, 'dist', 'examples');
  const listener = packageDir(packageRoot, LISTENER);
  const loader = packageDir(listener, 'node-gyp-build');
  const prebuild = join('prebuilds', `linux-${arch}`);
  const missing = [join(packageRoot, 'Dockerfile.app'), join(examples, 'http-server.js'), join(listener, 'dist', 'index.js'), join(listener, prebuild)]
    .filter((f) => !existsSync(f));
  if (missing.length > 0) {
    throw new PodError(`cannot build the example image: ${missing.join(', ')} missing; in a checkout, run \`npm run build\` first; an installed reuseport-pod ships them, so reinstall it`, ExitCode.failure);
  }
  cpSync(join(packageRoot, 'Dockerfile.app'), join(dir, 'Dockerfile'), { preserveTimestamps: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'reuseport-pod-example', version: packageVersion, private: true, type: 'module' }, null, 2) + '\n');
  copyFiles(examples, runtimeFiles(examples), join(dir, 'dist', 'examples'));
  // What node-gyp-build needs to find the addon: package.json and binding.gyp mark the package's
  // root, and only the engine's architecture's prebuild is of use in the image.
  const listenerFiles = ['package.json', 'binding.gyp', ...runtimeFiles(listener, 'dist').filter((f) => f.endsWith('.js')), ...runtimeFiles(listener, prebuild)];
  copyFiles(listener, listenerFiles, join(dir, 'node_modules', LISTENER));
  copyFiles(loader, runtimeFiles(loader), join(dir, 'node_modules', 'node-gyp-build'));
  return runtimeFiles(dir);
}

export interface BuildAppOptions {
  tag?: string;
  /** A base image to use as is (no fallback). */
  baseImage?: string;
  /** Skip the official image and use (or make) the local one. */
  localBase?: boolean;
}

export interface BuildAppResult {
  image: string;
  base: string;
  seconds: number;
}

async function makeLocalBase(ctx: PodContext): Promise<string> {
  const image = localBase();
  if (await ctx.runtime.imageExists(image)) return image;
  ctx.progress(`Making ${image} from this machine's node (scripts/build-node-base.sh) ...`);
  try {
    await promisify(execFile)('bash', [join(packageRoot, 'scripts', 'build-node-base.sh'), process.execPath], { cwd: packageRoot });
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').trim().split('\n').pop();
    throw new PodError(`could not make the local base image ${image}: ${stderr || (err as Error).message}`, ExitCode.failure, { cause: err });
  }
  return image;
}

async function chooseBase(ctx: PodContext, options: BuildAppOptions): Promise<string> {
  if (options.baseImage) {
    if (!(await ctx.runtime.imageExists(options.baseImage))) await ctx.runtime.pullImage(options.baseImage);
    return options.baseImage;
  }
  if (options.localBase) return makeLocalBase(ctx);
  if (await ctx.runtime.imageExists(OFFICIAL_BASE)) return OFFICIAL_BASE;
  try {
    ctx.progress(`Pulling ${OFFICIAL_BASE} ...`);
    await ctx.runtime.pullImage(OFFICIAL_BASE);
    return OFFICIAL_BASE;
  } catch (err) {
    ctx.warn(`${OFFICIAL_BASE} cannot be pulled (${(err as Error).message.replace(/^pulling \S+ failed: /, '')}); using a base image made from this machine's node instead`);
    return makeLocalBase(ctx);
  }
}

export async function buildAppImage(ctx: PodContext, options: BuildAppOptions): Promise<BuildAppResult> {
  const started = Date.now();
  const engineArch = (await ctx.runtime.info()).arch;
  const arch = prebuildArch(engineArch);
  if (arch === undefined) {
    throw new PodError(`the engine runs containers on ${engineArch ?? 'an unreported architecture'}, and ${LISTENER} has its addon for x86_64 and aarch64 only; build your own image, or pass --image to create`, ExitCode.failure);
  }
  const dir = mkdtempSync(join(tmpdir(), 'reuseport-pod-example-'));
  try {
    const files = stageContext(dir, arch);
    const base = await chooseBase(ctx, options);
    const image = options.tag ?? DEFAULT_APP_IMAGE;
    ctx.progress(`Building ${image} on ${base} ...`);
    await ctx.runtime.buildImage({
      context: dir,
      files,
      dockerfile: 'Dockerfile',
      tag: image,
      buildArgs: { BASE_IMAGE: base },
      onProgress: (line) => {
        if (/^Step \d+\/\d+/.test(line)) ctx.progress(`  ${line}`);
      },
    });
    return { image, base, seconds: (Date.now() - started) / 1000 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
