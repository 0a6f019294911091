// Drain an HTTP server on SIGTERM/SIGINT so that a replica can leave its reuseport group without
// failing requests: close the listener first (the kernel then hashes new connections to the
// sibling listeners), let in-flight requests finish, close keep-alive connections as soon as they
// are idle, and give up after a deadline.
import type * as http from 'node:http';
import type * as net from 'node:net';

export interface GracefulShutdownOptions {
  /** Name used in log lines. */
  instance: string;
  /** After this long, the remaining connections are destroyed and the process exits 1. */
  timeoutMs: number;
  log?: (line: string) => void;
  exit?: (code: number) => void;
  signals?: NodeJS.Signals[];
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

  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  // One shared listener rather than a closure per request: this runs on every request.
  function onResponseClose(this: http.ServerResponse): void {
    inFlight.delete(this);
    // A response whose headers went out before the drain kept its keep-alive promise; once it is
    // done the connection is idle and nothing else would close it.
    if (draining) setImmediate(() => server.closeIdleConnections());
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
    const timer = setTimeout(() => {
      log(`${options.instance} drain timed out after ${options.timeoutMs} ms, force-closing ${sockets.size} connections`);
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      exit(1);
    }, options.timeoutMs);
    // The listener goes first and the log line after it: whoever reads "draining" may rely on new
    // connections no longer reaching this process. close() calls back once the last connection ends.
    server.close(() => {
      clearTimeout(timer);
      log(`${options.instance} stopped after draining ${open} connections`);
      exit(0);
    });
    log(`${options.instance} draining ${open} connections (${reason})`);
    for (const res of inFlight) {
      if (!res.headersSent) res.setHeader('Connection', 'close');
    }
    // http.Server#close() already closed the connections idle at that moment (Node >= 19); this
    // also covers Node 18.2+ and reads as what the drain does.
    server.closeIdleConnections();
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
