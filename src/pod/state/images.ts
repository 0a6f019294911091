// Images are never assumed: the app image must exist (or be pullable), and the sandbox image is
// ours, so it is built locally from the package's static pause binary when missing.
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
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

export const pauseBinary = (): string => join(packageRoot, 'build', 'Release', 'pause');

export async function ensureSandboxImage(ctx: PodContext, image: string): Promise<void> {
  if (await ctx.runtime.imageExists(image)) return;
  if (image !== DEFAULT_SANDBOX_IMAGE) {
    throw new PodError(`sandbox image ${image} is not on this engine; build or load it, or drop --sandbox-image to use the built-in one`, ExitCode.notFound);
  }
  const binary = pauseBinary();
  if (!existsSync(binary)) {
    throw new PodError(`the pause program is not built (${binary} is missing); run \`npm rebuild reuseport-pod\` (needs python3, make and a C compiler)`, ExitCode.failure);
  }
  ctx.progress(`Building sandbox image ${image} ...`);
  // The context is exactly what native/pause.Dockerfile expects: the Dockerfile and the binary.
  const dir = mkdtempSync(join(tmpdir(), 'reuseport-pod-pause-'));
  try {
    copyFileSync(join(packageRoot, 'native', 'pause.Dockerfile'), join(dir, 'Dockerfile'));
    copyFileSync(binary, join(dir, 'pause'));
    await ctx.runtime.buildImage({ context: dir, files: ['Dockerfile', 'pause'], dockerfile: 'Dockerfile', tag: image, buildArgs: { VERSION: packageVersion } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
