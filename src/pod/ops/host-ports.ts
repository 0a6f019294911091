// When the engine runs on this machine, a host port held by a plain process is found before
// anything is created. Docker finds it too with its userland proxy, but not with
// --userland-proxy=false, where its DNAT rule would silently steal the port's traffic.
import { createServer } from 'node:net';
import { ExitCode, PodError } from '../../errors.ts';
import { formatPort, type PortMapping } from '../model/spec.ts';

function probe(p: PortMapping): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    server.listen({ port: p.hostPort, host: p.hostIp ?? '0.0.0.0', exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

export async function assertHostPortsFree(ports: readonly PortMapping[]): Promise<void> {
  for (const p of ports) {
    const err = await probe(p);
    // EACCES (a low port as non-root) or EADDRNOTAVAIL says nothing about the port: the engine decides.
    if (err?.code === 'EADDRINUSE') {
      throw new PodError(`host port ${p.hostPort} (--port ${formatPort(p)}) is already in use on this machine; choose a free host port`, ExitCode.conflict);
    }
  }
}

export const engineIsLocal = (endpoint: string): boolean => endpoint.startsWith('unix://') || endpoint.startsWith('/');
