// An HTTP server meant to run as several replicas on one port: each replica binds with
// SO_REUSEPORT through the library and the kernel spreads new connections across them.
//
//   HOST                 literal IP to bind (default 0.0.0.0)
//   PORT                 0-65535 (default 8080)
//   INSTANCE             name in the responses and logs (default: hostname, else pid)
//   SHUTDOWN_TIMEOUT_MS  how long a SIGTERM/SIGINT drain may take before the rest is cut (default 10000)
//   REUSEPORT_POD_PATH   addon | builtin | auto, read by the library
//   REUSEPORT=0          listen the plain way (node:net, no SO_REUSEPORT): one replica per network
//                        namespace, as in a `create --mode dnat` pod (default 1)
//   TEST_SLOW_PATH=1     test-only: GET /slow?ms=N answers after N ms (at most 60000), so that tests
//                        can hold a request in flight across a SIGTERM. Off by default.
//
// Exit codes: 0 drained, 1 drain timed out / second signal / cannot listen, 2 bad environment.
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import { createServer } from '../src/index.ts';
import { installGracefulShutdown } from './graceful-shutdown.ts';

interface Config {
  host: string;
  port: number;
  instance: string;
  shutdownTimeoutMs: number;
  slowPath: boolean;
  reusePort: boolean;
}

class ConfigError extends Error {}

function intFromEnv(name: string, value: string | undefined, fallback: number, max: number): number {
  // An empty value is what `-e PORT=` in a compose file yields: treat it as unset.
  if (value === undefined || value === '') return fallback;
  if (!/^\d+$/.test(value) || Number(value) > max) {
    throw new ConfigError(`${name} must be an integer from 0 to ${max}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

function readConfig(env: NodeJS.ProcessEnv): Config {
  const host = env.HOST || '0.0.0.0';
  if (net.isIP(host) === 0) throw new ConfigError(`HOST must be a literal IPv4 or IPv6 address, got ${JSON.stringify(host)}`);
  return {
    host,
    port: intFromEnv('PORT', env.PORT, 8080, 65535),
    instance: env.INSTANCE || os.hostname() || String(process.pid),
    // setTimeout's ceiling; larger values would fire at once.
    shutdownTimeoutMs: intFromEnv('SHUTDOWN_TIMEOUT_MS', env.SHUTDOWN_TIMEOUT_MS, 10_000, 2 ** 31 - 1),
    slowPath: env.TEST_SLOW_PATH === '1',
    reusePort: intFromEnv('REUSEPORT', env.REUSEPORT, 1, 1) === 1,
  };
}

function slowDelayMs(url: string | undefined): number {
  const parsed = new URL(url ?? '/', 'http://x');
  if (parsed.pathname !== '/slow') return 0;
  const ms = Number(parsed.searchParams.get('ms') ?? 0);
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, 60_000) : 0;
}

function listenPlain(handler: http.RequestListener, host: string, port: number): Promise<http.Server> {
  const server = http.createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject).listen({ host, port }, () => resolve(server));
  });
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = readConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`http-server: ${err.message}`);
    process.exit(2);
  }

  const body = `Hello from ${config.instance}\n`;
  const reply = (res: http.ServerResponse): void => {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };
  const handler: http.RequestListener = (req, res) => {
    const delay = config.slowPath ? slowDelayMs(req.url) : 0;
    if (delay > 0) setTimeout(reply, delay, res);
    else reply(res);
  };

  let server: http.Server;
  let how: string;
  try {
    if (config.reusePort) {
      const shared = await createServer(handler, { host: config.host, port: config.port });
      server = shared;
      how = `reuseport: ${shared.reusePort.path}`;
    } else {
      server = await listenPlain(handler, config.host, config.port);
      how = 'reuseport: off';
    }
  } catch (err) {
    console.error(`${config.instance}: cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`);
    process.exit(1);
  }

  installGracefulShutdown(server, { instance: config.instance, timeoutMs: config.shutdownTimeoutMs });
  const { address, family, port } = server.address() as net.AddressInfo;
  const where = family === 'IPv6' ? `[${address}]:${port}` : `${address}:${port}`;
  console.log(`${config.instance} listening on ${where} (${how}, pid ${process.pid})`);
}

await main();
