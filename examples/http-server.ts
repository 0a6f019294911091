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
//   MESSAGE              appended to every answer ("Hello from web-1: MESSAGE"), e.g. from an env file
//   MESSAGE_FILE         read once at start; its first line is the MESSAGE (a mounted config file)
//   UPSTREAM             an http:// URL: GET /upstream fetches it and answers "Hello from web-1 via
//                        <its answer>" (502 when it fails), to show a replica reaching a backend by name
//   HEALTHY_AFTER_MS     a self-check for a health check: N ms after it listens, the server writes
//                        HEALTHY_FILE (default /tmp/healthy), so that `--health-cmd 'test -f /tmp/healthy'`
//                        passes only then (a stand-in for an app's warm-up). The file is the process's
//                        own, in its own filesystem: unlike a request to 127.0.0.1:$PORT, which any
//                        replica sharing the port may answer, it says this replica is ready. Removed
//                        at start (a restarted container keeps its files). Unset: no file.
//   TEST_SLOW_PATH=1     test-only: GET /slow?ms=N answers after N ms (at most 60000), so that tests
//                        can hold a request in flight across a SIGTERM. Off by default.
//
// Exit codes: 0 drained, 1 drain timed out / second signal / cannot listen, 2 bad environment.
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from '@reuseport-pod/listener';
import { installGracefulShutdown } from './graceful-shutdown.ts';

interface Config {
  message: string;
  upstream: string | undefined;
  host: string;
  port: number;
  instance: string;
  shutdownTimeoutMs: number;
  slowPath: boolean;
  reusePort: boolean;
  healthyAfterMs: number | undefined;
  healthyFile: string;
}

class ConfigError extends Error {}

const UPSTREAM_TIMEOUT_MS = 2000;

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
  const upstream = env.UPSTREAM || undefined;
  if (upstream !== undefined && !/^http:\/\/[^/]+/.test(upstream)) throw new ConfigError(`UPSTREAM must be an http:// URL, got ${JSON.stringify(upstream)}`);
  let message = env.MESSAGE ?? '';
  if (env.MESSAGE_FILE) {
    try {
      message = readFileSync(env.MESSAGE_FILE, 'utf8').split('\n')[0] ?? '';
    } catch (err) {
      throw new ConfigError(`MESSAGE_FILE ${env.MESSAGE_FILE} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  return {
    message,
    upstream,
    host,
    port: intFromEnv('PORT', env.PORT, 8080, 65535),
    instance: env.INSTANCE || os.hostname() || String(process.pid),
    // setTimeout's ceiling; larger values would fire at once.
    shutdownTimeoutMs: intFromEnv('SHUTDOWN_TIMEOUT_MS', env.SHUTDOWN_TIMEOUT_MS, 10_000, 2 ** 31 - 1),
    slowPath: env.TEST_SLOW_PATH === '1',
    reusePort: intFromEnv('REUSEPORT', env.REUSEPORT, 1, 1) === 1,
    healthyAfterMs: env.HEALTHY_AFTER_MS ? intFromEnv('HEALTHY_AFTER_MS', env.HEALTHY_AFTER_MS, 0, 2 ** 31 - 1) : undefined,
    healthyFile: env.HEALTHY_FILE || '/tmp/healthy',
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

  const hello = `Hello from ${config.instance}`;
  const body = `${hello}${config.message ? `: ${config.message}` : ''}\n`;
  const send = (res: http.ServerResponse, status: number, text: string): void => {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
  const reply = (res: http.ServerResponse): void => send(res, 200, body);
  const viaUpstream = async (res: http.ServerResponse, url: string): Promise<void> => {
    try {
      const answer = await fetch(url, { signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS) });
      send(res, 200, `${hello} via ${(await answer.text()).trim()}\n`);
    } catch (err) {
      send(res, 502, `${hello}: upstream ${url} failed: ${(err as Error).message}\n`);
    }
  };
  const handler: http.RequestListener = (req, res) => {
    if (config.upstream && req.url === '/upstream') return void viaUpstream(res, config.upstream);
    const delay = config.slowPath ? slowDelayMs(req.url) : 0;
    if (delay > 0) setTimeout(reply, delay, res);
    else reply(res);
  };

  // A file left by this container's previous run must not pass its check before this run listens.
  if (config.healthyAfterMs !== undefined) rmSync(config.healthyFile, { force: true });

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
  if (config.healthyAfterMs !== undefined) {
    const { healthyFile } = config;
    setTimeout(() => {
      writeFileSync(healthyFile, `${config.instance}\n`);
      console.log(`${config.instance} healthy: wrote ${healthyFile}`);
    }, config.healthyAfterMs).unref();
  }
}

await main();
