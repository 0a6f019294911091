// `ls` without a chosen runtime: the pods of the container engine and the local-process pods
// together. Reads are merged and calls naming a container go to the runtime that has it; when the
// engine does not answer, the process pods are still listed (its error stands when there are none).
import { isUnreachable } from './docker-errors.ts';
import { PodError } from '../errors.ts';
import type { ProcessRuntime } from './process.ts';
import type { ContainerSummary, Runtime } from './runtime.ts';

function engineDown(err: unknown): boolean {
  return isUnreachable(err) || (err instanceof PodError && err.exitCode === 3);
}

export function bothRuntimes(engine: Runtime, processes: ProcessRuntime): Runtime {
  const pick = (id: string): Runtime => (processes.owns(id) ? processes : engine);
  return {
    endpoint: `${engine.endpoint} and ${processes.endpoint}`,
    info: () => engine.info(),
    imageExists: (ref) => engine.imageExists(ref),
    pullImage: (ref, onProgress) => engine.pullImage(ref, onProgress),
    buildImage: (options) => engine.buildImage(options),
    runPodSandbox: (config, whileStarting) => engine.runPodSandbox(config, whileStarting),
    stopPodSandbox: (id, t) => pick(id).stopPodSandbox(id, t),
    removePodSandbox: (id) => pick(id).removePodSandbox(id),
    createContainer: (sandboxId, config) => pick(sandboxId).createContainer(sandboxId, config),
    startContainer: (id) => pick(id).startContainer(id),
    stopContainer: (id, t) => pick(id).stopContainer(id, t),
    restartContainer: (id, t) => pick(id).restartContainer(id, t),
    removeContainer: (id) => pick(id).removeContainer(id),
    createMarker: (config) => engine.createMarker(config),
    containerStatus: (id) => pick(id).containerStatus(id),
    exec: (id, cmd) => pick(id).exec(id, cmd),
    execAttached: (id, cmd, streams) => pick(id).execAttached(id, cmd, streams),
    logs: (id, options) => pick(id).logs(id, options),
    events: (labels, signal) => engine.events(labels, signal),
    lastExitCode: (id) => pick(id).lastExitCode?.(id) ?? Promise.resolve(undefined),
    listensOn: (id, port) => pick(id).listensOn?.(id, port) ?? Promise.resolve(undefined),
    countListeners: (id, port) => pick(id).countListeners?.(id, port) ?? Promise.resolve(undefined),
    parts: () => [engine, processes],
    async listContainers(labels): Promise<ContainerSummary[]> {
      const local = await processes.listContainers(labels);
      try {
        return [...(await engine.listContainers(labels)), ...local];
      } catch (err) {
        if (local.length > 0 && engineDown(err)) return local;
        throw err;
      }
    },
  };
}
