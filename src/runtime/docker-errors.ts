// Engine errors in words a user can act on: no raw JSON from the Docker API reaches the screen.
import { ExitCode, PodError } from '../errors.ts';

interface EngineError {
  statusCode?: number;
  code?: string;
  reason?: string;
  json?: { message?: string } | null;
  message?: string;
}

export function engineMessage(err: unknown): string {
  const e = err as EngineError;
  const fromJson = e?.json && typeof e.json === 'object' ? e.json.message : undefined;
  const text = (fromJson ?? e?.message ?? String(err)).replace(/^\(HTTP code \d+\)\s*/, '').trim();
  return text.replace(/^.*?unexpected - /, '').replace(/\s+/g, ' ');
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'ENOTFOUND', 'EPIPE']);

export function isUnreachable(err: unknown): boolean {
  const e = err as EngineError;
  return typeof e?.code === 'string' && UNREACHABLE.has(e.code) && e.statusCode === undefined;
}

export function unreachable(endpoint: string, err: unknown): PodError {
  const code = (err as EngineError)?.code ?? engineMessage(err);
  const hint =
    code === 'EACCES'
      ? 'run as root or as a member of the docker group'
      : 'start the engine (e.g. `sudo dockerd &` or `systemctl start docker`) or point DOCKER_HOST at a running one';
  return new PodError(`cannot reach the container engine at ${endpoint} (${code}): ${hint}`, ExitCode.engineUnreachable, { cause: err });
}

export const statusOf = (err: unknown): number | undefined => (err as EngineError)?.statusCode;

/** Docker's words when a published port cannot be bound. */
export function isPortTaken(err: unknown): boolean {
  return /port is already allocated|address already in use|bind: /i.test(engineMessage(err));
}
