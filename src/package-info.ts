// Where the package lives on disk (for the Dockerfiles and the built pause binary) and its version.
// Found by walking up from this file, so it works from src/ (tests) and dist/src/ (the CLI).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate) && (JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string }).name === 'reuseport-pod') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('reuseport-pod: cannot find the package root (package.json) above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

export const packageRoot = findRoot();
export const packageVersion = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;

export const DEFAULT_APP_IMAGE = `reuseport-pod/example:${packageVersion}`;
export const DEFAULT_SANDBOX_IMAGE = `reuseport-pod/pause:${packageVersion}`;
/** The helper that writes a DNAT pod's rules (scripts/build-nat-image.sh). */
export const DEFAULT_NAT_IMAGE = `reuseport-pod/nat:${packageVersion}`;
