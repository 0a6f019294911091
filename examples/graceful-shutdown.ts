// Drain an HTTP server on SIGTERM/SIGINT so that a replica can leave its reuseport group without
// failing requests: close the listener first (the kernel then hashes new connections to the
// sibling listeners), let in-flight requests finish, end keep-alive connections, and give up after
// a deadline.
//
// Idle keep-alive connections are not closed at once: a connection closed at the moment its client
// sends the next request loses that request (the client sees a reset and cannot tell whether the
// server got it). During a short grace period a request on an idle connection is still served,
// with `Connection: close`, which ends the connection cleanly; only connections still idle after
// it are closed by the server.
import type * as http from 'node:http';
import * as net from 'node:net';

export interface GracefulShutdownOptions {
  /** Name used in log lines. */
  instance: string;
  /** After this long, the remaining connections are destroyed and the process exits 1. */
  timeoutMs: number;
  log?: (line: string) => void;
  exit?: (code: number) => void;
  signals?: NodeJS.Signals[];
  /** How long idle keep-alive connections may still carry one request (default 1000 ms, at most half of timeoutMs). */
  idleGraceMs?: number;
}

export interface GracefulShutdown {
  readonly draining: boolean;
  /** What a signal does; exposed so that callers can start a drain without one. */
  drain(reason: string): void;
}

export function installGracefulShutdown(server: http.Server, options: GracefulShutdownOptions): GracefulShutdown {
  const log = options.log ?? ((line: string) => console.log(line));
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const sockets = new Set<net.Socket>();
  const inFlight = new Set<http.ServerResponse>();
  let draining = false;
  let idleGraceOver = false;
  const idleGraceMs = Math.min(options.idleGraceMs ?? 1000, options.timeoutMs / 2);

  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  // One shared listener rather than a closure per request: this runs on every request.
  function onResponseClose(this: http.ServerResponse): void {
    inFlight.delete(this);
    // A response whose headers went out before the drain kept its keep-alive promise; once it is
    // done the connection is idle, and after the grace period nothing else would close it.
    if (idleGraceOver) setImmediate(() => server.closeIdleConnections());
  }

  // Prepended so that it runs before the app's handler, which may answer synchronously.
  server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    if (draining) res.setHeader('Connection', 'close');
    inFlight.add(res);
    res.on('close', onResponseClose);
  });

  const drain = (reason: string): void => {
    if (draining) return;
    draining = true;
    const open = sockets.size;
    const idleGrace = setTimeout(() => {
      idleGraceOver = true;
      server.closeIdleConnections();
    }, idleGraceMs);
    const timer = setTimeout(() => {
      clearTimeout(idleGrace);
      log(`${options.instance} drain timed out after ${options.timeoutMs} ms, force-closing ${sockets.size} connections`);
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      exit(1);
    }, options.timeoutMs);
    // The listener goes first and the log line after it: whoever reads "draining" may rely on new
    // connections no longer reaching this process. net.Server's close stops listening and calls
    // back once the last connection ends; http.Server's own close() would also close the idle
    // connections at once, which is the race the grace period avoids.
    net.Server.prototype.close.call(server, () => {
      clearTimeout(timer);
      clearTimeout(idleGrace);
      log(`${options.instance} stopped after draining ${open} connections`);
      exit(0);
    });
    log(`${options.instance} draining ${open} connections (${reason})`);
    for (const res of inFlight) {
      if (!res.headersSent) res.setHeader('Connection', 'close');
    }
  };

  for (const signal of options.signals ?? ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      if (!draining) return drain(signal);
      // An operator who signals twice wants the process gone, not a second grace period.
      log(`${options.instance} got ${signal} again while draining, exiting now`);
      exit(1);
    });
  }

  return {
    get draining() {
      return draining;
    },
    drain,
  };
}
