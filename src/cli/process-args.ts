// create's and rollout's arguments that differ with --runtime process: a command instead of an image, and a
// bare port (`--port 8080`, `--port 127.0.0.1:8080`), since a local process has no second port to map to.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { usageError } from '../errors.ts';
import type { ReplicaOptions } from '../pod/model/options.ts';
import { refuseForProcesses, replicaOptionsFrom } from './replica-flags.ts';
import { parsePortSpecs, type PortMapping } from '../pod/model/spec.ts';
import { assertSamePorts } from '../runtime/process.ts';
import { encodeCommand } from '../runtime/process-command.ts';

export function processCommand(command: readonly string[], imageGiven: boolean): string {
  if (imageGiven) throw usageError('--image is for containers; with --runtime process give the command after --, e.g. `-- node server.js`');
  if (command.length === 0) {
    throw usageError('--runtime process runs a command: give it after --, e.g. `reuseport-pod create web --runtime process --port 8080 -- node server.js`');
  }
  return encodeCommand(command);
}

/** rollout's new image, or a process pod's new command; undefined keeps the current one. A container's command is an option (replica-flags.ts). */
export function rolloutImage(processes: boolean, image: string | undefined, command: readonly string[]): string | undefined {
  if (!processes) return image || undefined;
  return command.length > 0 || image ? processCommand(command, Boolean(image)) : undefined;
}

/**
 * A local process takes a working directory (a path on this host, relative to here) and the
 * environment; every container option is refused by name, never dropped.
 */
export function processOptions(o: Record<string, unknown>): ReplicaOptions {
  const { workdir, ...rest } = o;
  refuseForProcesses(replicaOptionsFrom(rest, [], false));
  if (workdir === undefined) return {};
  const dir = resolve(String(workdir));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw usageError(`--workdir "${String(workdir)}": ${dir} is not a folder; give an existing one`);
  return { workdir: dir };
}

/**
 * A local process has no second port to map to, so `PORT` and `IP:PORT` (`[IPv6]:PORT`) are the
 * natural spellings: they mean PORT:PORT (on IP). A mapping to another port is refused.
 */
export function processPortSpec(spec: string): string {
  const text = spec.trim();
  if (/^\d+$/.test(text)) return `${text}:${text}`;
  // An IPv4 address has dots and HOST:CONTAINER has none, so `127.0.0.1:80` cannot be a mapping.
  const m = /^(\d+\.\d+\.\d+\.\d+|\[[^\]]*\]):(\d+)$/.exec(text);
  return m ? `${m[1]}:${m[2]}:${m[2]}` : text;
}

/** `where`: what puts the replicas in the host's namespace (`--runtime process`, `--mode host`), for the message. */
export function processPorts(specs: readonly string[], where = '--runtime process'): PortMapping[] {
  const ports = parsePortSpecs(specs.map(processPortSpec));
  try {
    assertSamePorts(ports);
  } catch (err) {
    throw where === '--runtime process' ? err : usageError((err as Error).message.replace('with --runtime process', `with ${where}`));
  }
  return ports;
}
