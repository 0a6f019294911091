// Real-socket helpers for test/listener.ts (kept out of the test run by tap's helpers exclusion).
import { readdirSync } from 'node:fs';
import * as net from 'node:net';

/** Open descriptors of this process (the readdir's own fd is counted every time, so counts compare). */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** A server that writes its id and closes: one connection, one answer, no keep-alive. */
export function idServer(id: string): net.Server {
  return net.createServer((socket) => {
    socket.on('error', () => {});
    socket.end(id);
  });
}

/** Connects, reads until the peer closes, returns what it wrote. */
export function fetchId(port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => { data += chunk; });
    socket.on('end', () => { socket.destroy(); resolve(data); });
    socket.on('error', reject);
  });
}

/** Runs fn(0..count-1) with at most `limit` in flight. */
export async function mapLimit<T>(count: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array<T>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      results[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return results;
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

/** A plain listener without SO_REUSEPORT, the way an unrelated program holds a port. */
export function plainListener(port: number, host: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port, host }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

export function portOf(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

/** Whether ::1 can be bound at all here (some containers run without IPv6). */
export async function ipv6LoopbackAvailable(): Promise<boolean> {
  try {
    await closeServer(await plainListener(0, '::1'));
    return true;
  } catch {
    return false;
  }
}
