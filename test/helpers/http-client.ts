// Small HTTP client helpers for tests that talk to real servers on 127.0.0.1.
import * as http from 'node:http';
import * as net from 'node:net';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A port that was free a moment ago: listen on 0, read it, close. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function collect(req: http.ClientRequest, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.once('error', reject);
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.once('error', reject);
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
  });
}

/** GET on a new connection (agent: false), so that the kernel picks a listener for each call. */
export function getNewConnection(port: number, path = '/', timeoutMs = 5_000): Promise<Reply> {
  return collect(http.get({ host: '127.0.0.1', port, path, agent: false }), timeoutMs);
}

/** GET through a given agent, e.g. a keep-alive agent whose one socket is known to reach one listener. */
export function getWith(agent: http.Agent, port: number, path = '/', timeoutMs = 5_000): Promise<Reply> {
  return collect(http.get({ host: '127.0.0.1', port, path, agent }), timeoutMs);
}

/**
 * Sends a GET with `Expect: 100-continue` and resolves `started` once the server has answered
 * "100 Continue": Node's server does that just before it runs the request handler, so the request
 * is then provably in flight on the server, without sleeping and hoping.
 */
export function startRequest(agent: http.Agent, port: number, path: string, timeoutMs = 10_000): { started: Promise<void>; reply: Promise<Reply> } {
  const req = http.request({ host: '127.0.0.1', port, path, agent, method: 'GET', headers: { Expect: '100-continue' } });
  const started = new Promise<void>((resolve, reject) => {
    req.once('continue', () => {
      req.end();
      resolve();
    });
    req.once('error', reject);
  });
  const reply = collect(req, timeoutMs);
  // With Expect, Node sends the headers on flushHeaders and holds the body until 'continue'.
  req.flushHeaders();
  return { started, reply };
}

/** Runs n jobs with at most `limit` at a time. */
export async function pooled<T>(n: number, limit: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      results[i] = await job(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
  return results;
}
