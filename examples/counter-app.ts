// A small real app for a pod: an HTTP visit counter that keeps its count in Redis, so that every
// replica of the pod counts into ONE shared number. It is what the README's "A real app next to its
// database" runs: a config file mounted into the replicas, the database password from an env file,
// the database reached by name over a Docker network.
//
//   GET /   INCR the counter, answer "<greeting> from <INSTANCE>: <n> visits"
//           (503 with the reason when Redis fails)
//
// Configuration:
//   CONFIG_FILE          JSON file (default /etc/counter/config.json):
//                          { "greeting": "Hello", "redis": { "host": "redis", "port": 6379 }, "key": "visits" }
//                        greeting and redis.host are required; port defaults to 6379, key to "visits"
//   REDIS_PASSWORD       a secret, so from the environment (an env file), never from the config file;
//                        sent with AUTH on every connection. Unset: no AUTH.
//   REDIS_WAIT_MS        how long to keep trying to reach Redis at start (default 10000): the
//                        database container may still be starting
//   HOST, PORT, INSTANCE, SHUTDOWN_TIMEOUT_MS   as in examples/http-server.ts
//
// It reaches Redis (and authenticates) BEFORE it listens: a replica that cannot use its database
// never joins the reuseport group, so it never takes a connection it would fail, and the pod's
// readiness (its listener) says "no". A refused password is not retried: it exits 1 with one line
// saying so, which `reuseport-pod create` shows in its error.
//
// Exit codes: 0 drained, 1 Redis refused / unreachable / cannot listen / drain timed out, 2 bad config.
import type * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import { readFileSync } from 'node:fs';
import { createServer } from '@reuseport-pod/listener';
import { installGracefulShutdown } from './graceful-shutdown.ts';
import { RedisClient, RedisReplyError } from './redis-client.ts';

class ConfigError extends Error {}

interface Config {
  greeting: string;
  redisHost: string;
  redisPort: number;
  key: string;
  password: string | undefined;
  waitMs: number;
  host: string;
  port: number;
  instance: string;
  shutdownTimeoutMs: number;
}

function intFrom(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const n = typeof value === 'number' ? value : /^\d+$/.test(String(value)) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

function readConfig(env: NodeJS.ProcessEnv): Config {
  const file = env.CONFIG_FILE || '/etc/counter/config.json';
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`config file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}): mount one, e.g. -v ./counter.json:${file}:ro`);
  }
  let json: { greeting?: unknown; redis?: { host?: unknown; port?: unknown }; key?: unknown };
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not JSON: ${(err as Error).message}`);
  }
  if (typeof json?.greeting !== 'string' || json.greeting === '') throw new ConfigError(`config file ${file}: "greeting" must be a non-empty string`);
  if (typeof json.redis?.host !== 'string' || json.redis.host === '') throw new ConfigError(`config file ${file}: "redis.host" must be a host name or address`);
  if (json.key !== undefined && (typeof json.key !== 'string' || json.key === '')) throw new ConfigError(`config file ${file}: "key" must be a non-empty string`);
  const host = env.HOST || '0.0.0.0';
  if (net.isIP(host) === 0) throw new ConfigError(`HOST must be a literal IPv4 or IPv6 address, got ${JSON.stringify(host)}`);
  return {
    greeting: json.greeting,
    redisHost: json.redis.host,
    redisPort: intFrom(`config file ${file}: "redis.port"`, json.redis.port, 6379, 1, 65535),
    key: (json.key as string | undefined) ?? 'visits',
    password: env.REDIS_PASSWORD || undefined,
    waitMs: intFrom('REDIS_WAIT_MS', env.REDIS_WAIT_MS, 10_000, 0, 600_000),
    host,
    port: intFrom('PORT', env.PORT, 8080, 0, 65535),
    instance: env.INSTANCE || os.hostname() || String(process.pid),
    shutdownTimeoutMs: intFrom('SHUTDOWN_TIMEOUT_MS', env.SHUTDOWN_TIMEOUT_MS, 10_000, 0, 2 ** 31 - 1),
  };
}

/** Why Redis refused us, in words a user acts on; undefined when the error is worth a retry. */
function refusal(err: unknown, config: Config, where: string): string | undefined {
  if (!(err instanceof RedisReplyError)) return undefined;
  if (err.kind === 'NOAUTH') return `redis at ${where} requires a password: set REDIS_PASSWORD (e.g. in the --env-file)`;
  if (err.kind === 'WRONGPASS' || /password/i.test(err.message)) {
    return config.password ? `redis at ${where} refused the password in REDIS_PASSWORD (${err.message})` : `redis at ${where}: ${err.message}`;
  }
  return `redis at ${where} refused the connection: ${err.message}`;
}

/** Connects and authenticates, retrying what may pass (DNS, refused, reset) until waitMs is over. */
async function reachRedis(redis: RedisClient, config: Config): Promise<void> {
  const deadline = Date.now() + config.waitMs;
  for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
    try {
      await redis.command('PING');
      return;
    } catch (err) {
      const refused = refusal(err, config, redis.where);
      if (refused) throw new Error(refused);
      if (Date.now() + delay > deadline) throw new Error(`${(err as Error).message} (gave up after ${config.waitMs} ms)`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = readConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`counter-app: ${err.message}`);
    process.exit(2);
  }

  const redis = new RedisClient({ host: config.redisHost, port: config.redisPort, password: config.password });
  try {
    await reachRedis(redis, config);
  } catch (err) {
    console.error(`counter-app: ${config.instance}: ${(err as Error).message}`);
    process.exit(1);
  }

  const send = (res: http.ServerResponse, status: number, text: string): void => {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
  const handler: http.RequestListener = (req, res) => {
    if (req.url !== '/' || (req.method !== 'GET' && req.method !== 'HEAD')) return send(res, 404, 'not found: GET / counts a visit\n');
    redis.command('INCR', config.key).then(
      (n) => send(res, 200, `${config.greeting} from ${config.instance}: ${String(n)} ${n === 1 ? 'visit' : 'visits'}\n`),
      (err: Error) => send(res, 503, `${config.instance}: redis at ${redis.where} failed: ${err.message}\n`),
    );
  };

  let server: Awaited<ReturnType<typeof createServer>>;
  try {
    server = await createServer(handler, { host: config.host, port: config.port });
  } catch (err) {
    console.error(`counter-app: ${config.instance}: cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`);
    process.exit(1);
  }
  // The drain finishes requests in flight, which still need Redis: the connection stays open until
  // the process exits.
  installGracefulShutdown(server, { instance: config.instance, timeoutMs: config.shutdownTimeoutMs });
  const { address, port } = server.address() as net.AddressInfo;
  console.log(`${config.instance} listening on ${address}:${port} (reuseport: ${server.reusePort.path}, pid ${process.pid}), counting in redis at ${redis.where} key ${JSON.stringify(config.key)}`);
}

await main();
