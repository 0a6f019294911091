// The engine the CLI talks to. One today (the Docker Engine API, which Podman also speaks).
import { DockerRuntime } from './docker.ts';
import type { Runtime } from './runtime.ts';

export function connectRuntime(env: NodeJS.ProcessEnv = process.env): Runtime {
  return new DockerRuntime(env);
}

export type { Runtime } from './runtime.ts';
