import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What native/reuseport.cc exports. */
export interface NativeBinding {
  /**
   * socket() + SO_REUSEADDR + SO_REUSEPORT (+ IPV6_V6ONLY) + bind() + listen().
   * Returns the listening fd (close-on-exec) and the bound port; throws Node-shaped
   * errors (code, errno, syscall, address, port) and never leaks the fd on failure.
   */
  openListener(host: string, port: number, backlog: number, ipv6Only: boolean): { fd: number; port: number };
  /**
   * TCP sockets listening on `port` (IPv4 and IPv6) in the network namespace of process `pid`,
   * through sock_diag netlink (microseconds, where /proc/<pid>/net/tcp{,6} walk every connection
   * of the host). Throws Node-shaped errors: ENOENT (no such process), EPERM (not root). Optional:
   * a binary built before it lacks it.
   */
  countListeners?(pid: number, port: number): number;
}

export type AddonState =
  | { binding: NativeBinding; error: null }
  | { binding: null; error: Error };

let state: AddonState | undefined;

/**
 * The folder that holds binding.gyp (and build/ or prebuilds/). Walked up to rather than
 * hard-coded because this file runs both as src/addon.ts (tests) and as dist/addon.js.
 */
export function packageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir;
    if (dirname(dir) === dir) throw new Error(`binding.gyp not found above ${start}`);
  }
}

/**
 * node-gyp-build's "No native build was found for platform=linux arch=riscv64 runtime=node abi=115
 * ... loaded from: DIR" lists every tag it matched on, on several lines; the user needs to know
 * which platform lacks a prebuild and that the package has some for others.
 */
function loadFrom(load: (dir: string) => Partial<NativeBinding>, root: string): Partial<NativeBinding> {
  try {
    return load(root);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (!message.startsWith('No native build was found')) throw err;
    const libc = /\blibc=(\S+)/.exec(message)?.[1] ?? 'glibc';
    throw new Error(`no prebuilt addon for ${process.platform}-${process.arch} (${libc}) in ${root}/prebuilds, which has linux-x64 and linux-arm64 (glibc)`, { cause: err });
  }
}

/** Loads the addon once (through node-gyp-build: build/Release first, then prebuilds/) and remembers why it failed. */
export function loadAddon(): AddonState {
  if (state === undefined) {
    try {
      const require = createRequire(import.meta.url);
      const load = require('node-gyp-build') as (dir: string) => Partial<NativeBinding>;
      const binding = loadFrom(load, packageRoot());
      if (typeof binding.openListener !== 'function') {
        throw new Error('the loaded binary has no openListener(); it is stale, rebuild it');
      }
      state = { binding: binding as NativeBinding, error: null };
    } catch (err) {
      state = { binding: null, error: err instanceof Error ? err : new Error(String(err)) };
    }
  }
  return state;
}
