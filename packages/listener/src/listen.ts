import cluster from 'node:cluster';
import { closeSync, fstatSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { inspect } from 'node:util';

import type { NativeBinding } from './addon.ts';
import { codedError } from './errors.ts';
import { choosePath } from './support.ts';
import type { ListenOptions, ListenResult } from './types.ts';
import { validateListenOptions, type ValidListenOptions } from './validate.ts';

/** @types/node 20 does not know the option Node 22.12 / 23.1 added. */
type BuiltinListenOptions = net.ListenOptions & { reusePort: true };

/**
 * Listens on a port that other processes (replicas) share, with SO_REUSEPORT set before bind(),
 * so the kernel spreads new connections over all of them. Works for any net.Server (http, https, net).
 * Resolves once listening; rejects with the listen error (the server's 'error' event is consumed).
 *
 * Not for `cluster` workers: their listen() is routed through the cluster primary, which owns the
 * sockets, so a worker's fd or reusePort flag does not form the group you expect. Use one process
 * per replica instead; in a worker this rejects with ERR_REUSEPORT_CLUSTER.
 */
export async function listen(server: net.Server, options: ListenOptions): Promise<ListenResult> {
  if (!(server instanceof net.Server)) {
    throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE',
      `server must be a net.Server (http.createServer(), net.createServer(), ...); received ${inspect(server, { depth: 0 })}`);
  }
  const opts = validateListenOptions(options);
  if (cluster.isWorker) {
    throw codedError(Error, 'ERR_REUSEPORT_CLUSTER',
      'reuseport-pod listen() cannot run in a cluster worker: cluster routes listen() through the primary, which owns the sockets, ' +
      'so the replicas would not form a SO_REUSEPORT group. Start one plain process per replica instead of using cluster.');
  }
  if (server.listening) {
    throw codedError(Error, 'ERR_SERVER_ALREADY_LISTEN', 'server is already listening; call listen() on a fresh server');
  }

  const chosen = choosePath(opts.prefer);
  if (chosen.path === 'builtin') {
    const builtinOptions: BuiltinListenOptions = {
      port: opts.port, host: opts.host, backlog: opts.backlog, ipv6Only: opts.ipv6Only, reusePort: true,
    };
    await listenOnce(server, () => server.listen(builtinOptions));
  } else {
    await listenWithAddon(server, chosen.binding, opts);
  }

  const address = server.address() as net.AddressInfo;
  return { address: address.address, family: address.family as ListenResult['family'], port: address.port, path: chosen.path };
}

/**
 * http.createServer(handler) listening through listen(). The returned server carries the
 * ListenResult as `reusePort`. Same cluster restriction as listen().
 */
export async function createServer(
  handler: http.RequestListener,
  options: ListenOptions,
): Promise<http.Server & { reusePort: ListenResult }> {
  const server = http.createServer(handler);
  const reusePort = await listen(server, options);
  return Object.assign(server, { reusePort });
}

async function listenWithAddon(server: net.Server, binding: NativeBinding, opts: ValidListenOptions): Promise<void> {
  const { fd } = binding.openListener(opts.host, opts.port, opts.backlog, opts.ipv6Only);
  const identity = socketIdentity(fd);
  try {
    // The backlog goes as the second argument because Node ignores options.backlog for { fd }
    // and would otherwise call listen(fd, 511) again, undoing ours.
    await listenOnce(server, () => server.listen({ fd }, opts.backlog));
  } catch (err) {
    closeIfStillOurs(fd, identity);
    throw err;
  }
}

/**
 * Node closes the fd when adoption fails after libuv took it, but not when it fails before
 * (e.g. uv_tcp_open refused it). Comparing device and inode tells the two apart without
 * closing an fd number that something else has reused in between.
 */
function socketIdentity(fd: number): { dev: number; ino: number } {
  const { dev, ino } = fstatSync(fd);
  return { dev, ino };
}

function closeIfStillOurs(fd: number, identity: { dev: number; ino: number }): void {
  try {
    const now = fstatSync(fd);
    if (now.dev === identity.dev && now.ino === identity.ino) closeSync(fd);
  } catch {
    // EBADF: Node already closed it.
  }
}

/** Runs start() and settles on the first 'listening' or 'error', leaving no listener behind. */
function listenOnce(server: net.Server, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(err);
    };
    server.once('listening', onListening);
    server.once('error', onError);
    try {
      start();
    } catch (err) {
      server.off('listening', onListening);
      server.off('error', onError);
      reject(err);
    }
  });
}
