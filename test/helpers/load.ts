// A bounded HTTP load generator for 127.0.0.1, in process: tests and bench/reliability.mjs run it
// while the pod is being changed and count what a client saw.
//
//   connection-per-request: `concurrency` loops, each a GET on a new connection (agent: false),
//                           so the kernel picks a listener for every request;
//   keep-alive:             `concurrency` loops sharing one keep-alive agent (maxSockets =
//                           concurrency), so requests reuse connections until the server closes them.
//
// It stops at stop(), after maxDurationMs, or after maxRequests, whichever comes first; every
// request has its own timeout. Each request is recorded: its start (ms since the load began), its
// latency, and either the instance that answered (the body, e.g. "Hello from web-2") or the kind of
// failure. In keep-alive mode a failure also says whether the request went out on a reused socket:
// that is a client racing the server's close of an idle connection (the request was written to a
// socket the server was closing; Node's agent does not retry it). Self-contained (node: only), so
// that bench/reliability.mjs can transpile and import it as is.
import * as http from 'node:http';

export type LoadMode = 'connection-per-request' | 'keep-alive';
export type FailureKind = 'ECONNRESET' | 'ECONNREFUSED' | 'socket hang up' | 'timeout' | 'non-200' | 'other';

export interface LoadOptions {
  port: number;
  mode: LoadMode;
  /** Concurrent request loops (keep-alive: also the agent's maxSockets). */
  concurrency?: number;
  /** Hard stop after this long (default 10 s). */
  maxDurationMs?: number;
  /** Hard stop after this many requests (default 100 000). */
  maxRequests?: number;
  /** Per-request timeout (default 5 s). */
  timeoutMs?: number;
  path?: string;
  /** Pause after a failed request, so that a dead port is not hammered (default 10 ms). */
  backoffMs?: number;
}

export interface RequestRecord {
  /** ms since the load started, when the request was sent. */
  start: number;
  /** ms until the answer or the failure. */
  ms: number;
  ok: boolean;
  /** The body, trimmed (the example answers "Hello from <instance>"). */
  instance?: string;
  failure?: FailureKind;
  /** The error's message or the status, for the report. */
  detail?: string;
  /** Keep-alive only: the request went out on a socket that had carried an earlier request. */
  reused?: boolean;
}

export interface LoadReport {
  mode: LoadMode;
  durationMs: number;
  requests: number;
  ok: number;
  failed: number;
  failures: Partial<Record<FailureKind, number>>;
  /** Keep-alive: failures of requests sent on a reused socket (raced an idle close) ... */
  reusedSocketFailures: number;
  /** ... and on a socket of their own (never acceptable). connection-per-request: all failures. */
  freshSocketFailures: number;
  /** Answers per instance (body). */
  instances: Record<string, number>;
  p50: number;
  p99: number;
  max: number;
  records: RequestRecord[];
}

export interface Load {
  /** Resolves when the load has stopped by itself (duration or count reached) or after stop(). */
  readonly done: Promise<LoadReport>;
  /** ms since the load started (to mark the start and end of an operation in `records`). */
  now(): number;
  /** Requests completed so far. */
  completed(): number;
  /** Stops sending; resolves when every request in flight has ended. */
  stop(): Promise<LoadReport>;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** Latency percentiles of the successful requests that started within [from, to) (ms since start). */
export function latency(records: RequestRecord[], from = 0, to = Infinity): { n: number; p50: number; p99: number; max: number } {
  const ms = records.filter((r) => r.ok && r.start >= from && r.start < to).map((r) => r.ms).sort((a, b) => a - b);
  return { n: ms.length, p50: percentile(ms, 50), p99: percentile(ms, 99), max: ms.at(-1) ?? 0 };
}

export function classify(err: NodeJS.ErrnoException): FailureKind {
  // Node reports "socket hang up" with code ECONNRESET: the connection ended before any answer.
  if (err.message === 'socket hang up') return 'socket hang up';
  if (err.code === 'ETIMEDOUT_LOAD') return 'timeout';
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return 'ECONNRESET';
  if (err.code === 'ECONNREFUSED') return 'ECONNREFUSED';
  return 'other';
}

export function summarize(mode: LoadMode, records: RequestRecord[], durationMs: number): LoadReport {
  const failures: Partial<Record<FailureKind, number>> = {};
  const instances: Record<string, number> = {};
  let ok = 0;
  let reusedSocketFailures = 0;
  for (const r of records) {
    if (r.ok) {
      ok++;
      instances[r.instance ?? ''] = (instances[r.instance ?? ''] ?? 0) + 1;
    } else {
      failures[r.failure ?? 'other'] = (failures[r.failure ?? 'other'] ?? 0) + 1;
      if (r.reused) reusedSocketFailures++;
    }
  }
  const { p50, p99, max } = latency(records);
  const failed = records.length - ok;
  return { mode, durationMs, requests: records.length, ok, failed, failures, reusedSocketFailures, freshSocketFailures: failed - reusedSocketFailures, instances, p50, p99, max, records };
}

/** One line for a test comment or a log: counts, failures by kind, latency. */
export function describe(r: LoadReport): string {
  const kinds = Object.entries(r.failures).map(([k, n]) => `${k} ${n}`).join(', ');
  const races = r.mode === 'keep-alive' ? `, ${r.reusedSocketFailures} on reused sockets (idle-close races), ${r.freshSocketFailures} on fresh ones` : '';
  return `${r.mode}: ${r.requests} requests in ${(r.durationMs / 1000).toFixed(1)} s, ${r.failed} failed${kinds ? ` (${kinds})` : ''}${races}; p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms`;
}

function once(agent: http.Agent | false, port: number, path: string, timeoutMs: number, t0: bigint): Promise<RequestRecord> {
  const startNs = process.hrtime.bigint();
  const start = Number(startNs - t0) / 1e6;
  const elapsed = () => Number(process.hrtime.bigint() - startNs) / 1e6;
  return new Promise((resolve) => {
    let settled = false;
    const req = http.get({ host: '127.0.0.1', port, path, agent });
    const finish = (r: Omit<RequestRecord, 'start' | 'ms'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ start, ms: elapsed(), ...r, ...(agent ? { reused: req.reusedSocket } : {}) });
    };
    const timer = setTimeout(() => {
      const err: NodeJS.ErrnoException = new Error(`no answer within ${timeoutMs} ms`);
      err.code = 'ETIMEDOUT_LOAD';
      req.destroy(err);
    }, timeoutMs);
    req.once('error', (err: NodeJS.ErrnoException) => finish({ ok: false, failure: classify(err), detail: `${err.code ?? ''} ${err.message}`.trim() }));
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.once('error', (err: NodeJS.ErrnoException) => finish({ ok: false, failure: classify(err), detail: `${err.code ?? ''} ${err.message}`.trim() }));
      // A response cut off mid-body ends with 'close' and no 'end'.
      res.once('close', () => {
        if (!res.complete) finish({ ok: false, failure: 'ECONNRESET', detail: 'response cut off' });
      });
      res.once('end', () => {
        if (res.statusCode === 200) finish({ ok: true, instance: body.trim() });
        else finish({ ok: false, failure: 'non-200', detail: `status ${res.statusCode}` });
      });
    });
  });
}

export function startLoad(options: LoadOptions): Load {
  const concurrency = options.concurrency ?? 8;
  const maxDurationMs = options.maxDurationMs ?? 10_000;
  const maxRequests = options.maxRequests ?? 100_000;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const backoffMs = options.backoffMs ?? 10;
  const path = options.path ?? '/';
  const agent = options.mode === 'keep-alive' ? new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency }) : false;
  const t0 = process.hrtime.bigint();
  const now = () => Number(process.hrtime.bigint() - t0) / 1e6;
  const records: RequestRecord[] = [];
  let sent = 0;
  let stopped = false;
  const deadline = setTimeout(() => (stopped = true), maxDurationMs);

  const loop = async (): Promise<void> => {
    while (!stopped && sent < maxRequests) {
      sent++;
      const r = await once(agent, options.port, path, timeoutMs, t0);
      records.push(r);
      if (!r.ok && backoffMs > 0) await new Promise((resolve) => setTimeout(resolve, backoffMs));
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, loop)).then(() => {
    clearTimeout(deadline);
    if (agent) agent.destroy();
    records.sort((a, b) => a.start - b.start);
    return summarize(options.mode, records, now());
  });
  return {
    done,
    now,
    completed: () => records.length,
    stop: () => {
      stopped = true;
      return done;
    },
  };
}
