// The engine the CLI talks to: the Docker Engine API (which Podman also speaks), or local
// processes (--runtime process) where there is no container engine.
import { usageError } from '../errors.ts';
import { bothRuntimes } from './both.ts';
import { DockerRuntime } from './docker.ts';
import { ProcessRuntime } from './process.ts';
import { stateHome } from './process-store.ts';
import type { Runtime } from './runtime.ts';

export const RUNTIMES = ['docker', 'process'] as const;

export interface RuntimeChoice {
  /** --runtime; else REUSEPORT_POD_RUNTIME; else chosen by `pod` and `listing`. */
  runtime?: string;
  /** The pod the command names: a process pod of that name selects the process runtime. */
  pod?: string;
  /** `ls`: both runtimes' pods. */
  listing?: boolean;
}

export function connectRuntime(env: NodeJS.ProcessEnv = process.env, choice: RuntimeChoice = {}): Runtime {
  const asked = choice.runtime ?? (env['REUSEPORT_POD_RUNTIME'] || undefined);
  if (asked !== undefined && !(RUNTIMES as readonly string[]).includes(asked)) {
    throw usageError(`--runtime "${asked}" is not a runtime; use ${RUNTIMES.join(' or ')}`);
  }
  if (asked === 'process') return new ProcessRuntime(stateHome(env));
  if (asked === 'docker') return new DockerRuntime(env);
  const processes = new ProcessRuntime(stateHome(env));
  if (choice.pod !== undefined && processes.hasPod(choice.pod)) return processes;
  if (choice.listing) return bothRuntimes(new DockerRuntime(env), processes);
  return new DockerRuntime(env);
}

export const isProcessRuntime = (runtime: Runtime): boolean => runtime instanceof ProcessRuntime;

export type { Runtime } from './runtime.ts';
