// Images are never assumed: the app image must exist (or be pullable), and the sandbox image is
// ours, so it is built locally from the package's static pause binary when missing.
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_APP_IMAGE, DEFAULT_NAT_IMAGE, DEFAULT_SANDBOX_IMAGE, packageRoot, packageVersion } from '../../package-info.ts';
import type { PodContext } from '../context.ts';
import { ExitCode, PodError } from '../../errors.ts';

export async function ensureAppImage(ctx: PodContext, image: string): Promise<void> {
  if (await ctx.runtime.imageExists(image)) return;
  if (image === DEFAULT_APP_IMAGE) {
    throw new PodError(`the example image ${image} is not built yet; run \`reuseport-pod build\` first, or pass --image`, ExitCode.notFound);
  }
  ctx.progress(`Pulling ${image} ...`);
  try {
    await ctx.runtime.pullImage(image);
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^pulling \S+ failed: /, '') : String(err);
    throw new PodError(`image ${image} is not on this engine and could not be pulled (${why}); build or load it first, or check the name`, ExitCode.notFound, { cause: err });
  }
}

/** The helper that writes a DNAT pod's rules: made from the host's iptables by a script, not at run time. */
export async function ensureNatImage(ctx: PodContext): Promise<void> {
  if (await ctx.runtime.imageExists(DEFAULT_NAT_IMAGE)) return;
  throw new PodError(`the NAT helper image ${DEFAULT_NAT_IMAGE} that --mode dnat needs is not built; run scripts/build-nat-image.sh (or scripts/build-images.sh)`, ExitCode.notFound);
}

/** The engine's name for its machine, as the packages' prebuilds name it (Node's os.arch()). */
const ENGINE_ARCH: Record<string, string> = { x86_64: 'x64', amd64: 'x64', aarch64: 'arm64', arm64: 'arm64' };

/** x64 or arm64 for an engine that reports x86_64/amd64 or aarch64/arm64; undefined for any other. */
export function prebuildArch(engineArch: string | undefined): string | undefined {
  return engineArch === undefined ? undefined : ENGINE_ARCH[engineArch.toLowerCase()];
}

/**
 * The static pause program for the engine's architecture, from the package's prebuilds/ (made by
 * scripts/build-prebuilds.sh): the sandbox image is built without a compiler on this machine, and
 * for the engine's machine, which need not be this one (DOCKER_HOST elsewhere, an emulated engine).
 */
export function pauseBinary(engineArch: string | undefined): string {
  const arch = prebuildArch(engineArch);
  if (arch === undefined) {
    throw new PodError(`the engine runs containers on ${engineArch ?? 'an unreported architecture'}, and this package has the pause program for x86_64 and aarch64 only; build ${DEFAULT_SANDBOX_IMAGE} from native/pause.Dockerfile yourself, or pass --sandbox-image`, ExitCode.failure);
  }
  const binary = join(packageRoot, 'prebuilds', `pause-linux-${arch}`);
  if (!existsSync(binary)) {
    throw new PodError(`the pause program for linux-${arch} is missing (${binary}); in a checkout, run \`npm run build:prebuilds\`; an installed package ships it, so reinstall reuseport-pod`, ExitCode.failure);
  }
  return binary;
}

export async function ensureSandboxImage(ctx: PodContext, image: string): Promise<void> {
  if (await ctx.runtime.imageExists(image)) return;
  if (image !== DEFAULT_SANDBOX_IMAGE) {
    throw new PodError(`sandbox image ${image} is not on this engine; build or load it, or drop --sandbox-image to use the built-in one`, ExitCode.notFound);
  }
  await buildSandboxImage(ctx, image);
}

/** Builds the sandbox image as TAG from native/pause.Dockerfile and the pause program for the engine's architecture. */
export async function buildSandboxImage(ctx: PodContext, tag: string): Promise<void> {
  const binary = pauseBinary((await ctx.runtime.info()).arch);
  ctx.progress(`Building sandbox image ${tag} ...`);
  // The context is exactly what native/pause.Dockerfile expects: the Dockerfile and the binary.
  const dir = mkdtempSync(join(tmpdir(), 'reuseport-pod-pause-'));
  try {
    copyFileSync(join(packageRoot, 'native', 'pause.Dockerfile'), join(dir, 'Dockerfile'));
    copyFileSync(binary, join(dir, 'pause'));
    // The layer cache keys COPY on content and mode: the same mode as scripts/build-pause-image.sh.
    chmodSync(join(dir, 'pause'), 0o755);
    await ctx.runtime.buildImage({ context: dir, files: ['Dockerfile', 'pause'], dockerfile: 'Dockerfile', tag, buildArgs: { VERSION: packageVersion } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
