import { loadAddon, packageRoot, type AddonState, type NativeBinding } from './addon.ts';
import { codedError } from './errors.ts';
import type { ReusePortPath, ReusePortSupport } from './types.ts';

const BUILTIN_VERSIONS = '>= 22.12 on 22.x, or >= 23.1';
/**
 * The package has no install script (nothing compiles at install time, and npm 11 has nothing to
 * ask about), so `npm rebuild` would run nothing: building from source is node-gyp in the package's
 * own folder, which node-gyp-build then loads before any prebuild. The C++ headers (node-addon-api)
 * are only a build-time dependency of the package, so they go into the app's folder, where
 * binding.gyp's require() finds them by walking up from node_modules/@reuseport-pod/listener.
 */
function addonFix(): string {
  let root: string;
  try {
    root = packageRoot();
  } catch {
    root = 'node_modules/@reuseport-pod/listener';
  }
  const at = root.indexOf('/node_modules/');
  const app = at > 0 ? root.slice(0, at) : root;
  return `build it from source with \`cd ${app} && npm install --no-save node-addon-api@8 && npx --yes node-gyp rebuild --directory ${root}\` (needs python3, make and g++)`;
}

/**
 * Whether net.Server#listen understands `reusePort: true`. It was added in Node 23.1.0 and
 * backported to 22.12.0; older versions silently ignore the option (the second listener then
 * fails with EADDRINUSE), so this has to be decided by version rather than by trying.
 */
export function hasBuiltinReusePort(version: string = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number);
  if (major === 22) return minor >= 12;
  if (major === 23) return minor >= 1;
  return major > 23;
}

/** reusePortSupport() for a given Node version and addon load result (pure, so every case is testable). */
export function describeSupport(version: string, addon: Pick<AddonState, 'error'>): ReusePortSupport {
  const builtin = hasBuiltinReusePort(version);
  const addonOk = addon.error === null;
  const addonProblem = addon.error ? `the native addon could not be loaded (${firstLine(addon.error.message)})` : '';
  if (builtin) {
    return {
      path: 'builtin', builtin, addon: addonOk,
      reason: `Node ${version} has the built-in reusePort listen option (${BUILTIN_VERSIONS}), so 'auto' uses it; ` +
        (addonOk ? "the native addon is also available (prefer: 'addon')." : `${addonProblem}, which only matters for prefer: 'addon'.`),
    };
  }
  if (addonOk) {
    return {
      path: 'addon', builtin, addon: addonOk,
      reason: `Node ${version} has no built-in reusePort listen option (needs ${BUILTIN_VERSIONS}), so 'auto' uses the native addon.`,
    };
  }
  return {
    path: null, builtin, addon: addonOk,
    reason: `Node ${version} has no built-in reusePort listen option and ${addonProblem}. ` +
      `To fix it, ${addonFix()}, or use Node ${BUILTIN_VERSIONS}.`,
  };
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? text;
}

/** Which path this process would use with prefer: 'auto', and why. */
export function reusePortSupport(): ReusePortSupport {
  return describeSupport(process.versions.node, loadAddon());
}

export type ChosenPath = { path: 'builtin' } | { path: 'addon'; binding: NativeBinding };

/** Resolves `prefer` to a usable path, or throws ERR_REUSEPORT_UNAVAILABLE saying how to get one. */
export function choosePath(prefer: 'auto' | ReusePortPath): ChosenPath {
  const version = process.versions.node;
  if (prefer === 'builtin' || (prefer === 'auto' && hasBuiltinReusePort(version))) {
    if (hasBuiltinReusePort(version)) return { path: 'builtin' };
    throw codedError(Error, 'ERR_REUSEPORT_UNAVAILABLE',
      `prefer: 'builtin' needs Node ${BUILTIN_VERSIONS}; this is Node ${version}. Use prefer: 'addon' or 'auto'.`);
  }
  const addon = loadAddon();
  if (addon.binding) return { path: 'addon', binding: addon.binding };
  const support = describeSupport(version, addon);
  throw codedError(Error, 'ERR_REUSEPORT_UNAVAILABLE',
    prefer === 'addon' ? `prefer: 'addon' but the native addon could not be loaded (${firstLine(addon.error.message)}). To fix it, ${addonFix()}, or use Node ${BUILTIN_VERSIONS} with prefer: 'auto'.` : support.reason);
}
