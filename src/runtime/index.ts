// The engine the CLI talks to: the Docker Engine API, served by dockerd or by Podman.
import { DockerRuntime } from './docker.ts';
import type { Runtime } from './runtime.ts';

/** `socketPath`: the engine's unix socket (the CLI's --engine-socket), which wins over DOCKER_HOST. */
export function connectRuntime(env: NodeJS.ProcessEnv = process.env, socketPath?: string): Runtime {
  return new DockerRuntime(env, socketPath);
}

export type { Runtime } from './runtime.ts';
