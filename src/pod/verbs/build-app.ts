// build: the example app image from Dockerfile.app. Users with a registry get the official node
// image as base; without one (this project's CI) the base is made from the host's own node.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_APP_IMAGE, packageRoot } from '../../package-info.ts';
import type { PodContext } from '../context.ts';
import { ExitCode, PodError } from '../../errors.ts';

export const OFFICIAL_BASE = 'node:20-bookworm-slim';
export const localBase = (): string => `reuseport-pod/node-base:${process.versions.node.split('.')[0]}`;

// Exactly what Dockerfile.app copies: the context stays small and free of secrets.
const CONTEXT = ['Dockerfile.app', 'package.json', 'binding.gyp', 'node_modules/node-gyp-build', 'build/Release/reuseport.node', 'dist/src', 'dist/examples'];

// dockerode applies .dockerignore to listed entries but not to files inside listed folders,
// so folders are expanded here; maps and declarations are of no use at run time.
function expand(entry: string): string[] {
  if (!statSync(join(packageRoot, entry)).isDirectory()) return [entry];
  return readdirSync(join(packageRoot, entry)).flatMap((name) => expand(`${entry}/${name}`));
}

const contextFiles = (): string[] => CONTEXT.flatMap(expand).filter((f) => !/\.(map|d\.ts)$/.test(f));

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
  const missing = CONTEXT.filter((f) => !existsSync(join(packageRoot, f)));
  if (missing.length > 0) {
    throw new PodError(`cannot build the example image: ${missing.join(', ')} missing in ${packageRoot}; run \`npm run build\` there first`, ExitCode.failure);
  }
  await ctx.runtime.info();
  const base = await chooseBase(ctx, options);
  const image = options.tag ?? DEFAULT_APP_IMAGE;
  ctx.progress(`Building ${image} on ${base} ...`);
  await ctx.runtime.buildImage({
    context: packageRoot,
    files: contextFiles(),
    dockerfile: 'Dockerfile.app',
    tag: image,
    buildArgs: { BASE_IMAGE: base },
    onProgress: (line) => {
      if (/^Step \d+\/\d+/.test(line)) ctx.progress(`  ${line}`);
    },
  });
  return { image, base, seconds: (Date.now() - started) / 1000 };
}
