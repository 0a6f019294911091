// `docker run`'s flags for what a real app needs, shared by create and rollout: the same names,
// the same syntax, parsed by src/pod/model/options.ts.
import type { Command } from 'commander';
import { usageError } from '../errors.ts';
import {
  compactOptions,
  OPTION_FLAGS,
  parseAddHosts,
  parseCapabilities,
  parseCpus,
  parseDns,
  parseHealth,
  parseLabels,
  parseMemory,
  parseMount,
  parseNetworkAliases,
  parseNetworks,
  parsePidsLimit,
  parseTmpfs,
  parseVolume,
  parseStopSignal,
  readEnvFiles,
  type ReplicaOptions,
} from '../pod/model/options.ts';
import { parseEnv } from '../pod/model/spec.ts';

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function addReplicaFlags(command: Command): Command {
  return command
    .option('--env-file <file>', 'read KEY=VALUE lines for every replica (repeatable; --env wins)', collect)
    .option('--network <network>', 'join an existing network, so replicas reach its containers by name (repeatable)', collect)
    .option('--network-alias <alias>', "a name the pod answers to on the networks it joins (repeatable), so their containers reach it by that name", collect)
    .option('-v, --volume <src:dst[:ro]>', 'bind a host path or mount a named volume in every replica (repeatable)', collect)
    .option('--mount <spec>', 'docker\'s --mount: type=bind|volume|tmpfs,source=...,target=...[,readonly] (repeatable)', collect)
    .option('--tmpfs <dst[:options]>', 'mount a tmpfs, e.g. /run:size=64m (repeatable)', collect)
    .option('-u, --user <user[:group]>', 'user the replicas run as (name or uid)')
    .option('-w, --workdir <dir>', 'working directory inside the replicas')
    .option('--entrypoint <command>', "replace the image's ENTRYPOINT (\"\" clears it)")
    .option('-m, --memory <bytes>', 'memory limit per replica, e.g. 256m or 1g')
    .option('--cpus <n>', 'CPU limit per replica, e.g. 0.5')
    .option('--pids-limit <n>', 'process limit per replica (-1: none)')
    .option('--read-only', "mount the replicas' root filesystem read-only")
    .option('--cap-add <cap>', 'add a Linux capability (repeatable)', collect)
    .option('--cap-drop <cap>', 'drop a Linux capability, or ALL (repeatable)', collect)
    .option('-l, --label <key=value>', 'label every replica (repeatable)', collect)
    .option('--add-host <host:ip>', 'add a line to /etc/hosts (the pod\'s network namespace; repeatable)', collect)
    .option('--dns <ip>', "a DNS server for the pod's network namespace (repeatable)", collect)
    .option(
      '--health-cmd <command>',
      "command (sh -c) that exits 0 when a replica is healthy; it must check the replica itself (a file, a unix socket): the replicas share the port, so 127.0.0.1:$PORT may be answered by a sibling (not so in --mode dnat)",
    )
    .option('--health-interval <duration>', 'time between health checks, e.g. 5s')
    .option('--health-timeout <duration>', 'time one check may take, e.g. 3s')
    .option('--health-retries <n>', 'failures in a row that make a replica unhealthy')
    .option('--health-start-period <duration>', 'time a replica gets to start before failures count')
    .option('--no-healthcheck', "disable the image's HEALTHCHECK")
    .option('--stop-signal <signal>', "signal that stops a replica (default: the image's STOPSIGNAL, else SIGTERM); the server must close its listener on it");
}

type Flags = Record<string, unknown>;
const list = (o: Flags, key: string): string[] => (o[key] as string[] | undefined) ?? [];
const text = (o: Flags, key: string): string | undefined => (o[key] === undefined ? undefined : String(o[key]));

/**
 * The options given on the command line; only those given are set (rollout changes what it is
 * given). `checkSources`: bind sources are paths of the engine's host, checkable only when the
 * engine runs here.
 */
export function replicaOptionsFrom(o: Flags, command: readonly string[], checkSources: boolean): ReplicaOptions {
  const options: ReplicaOptions = {};
  if (o['network']) options.networks = parseNetworks(list(o, 'network'));
  if (o['networkAlias']) options.networkAliases = parseNetworkAliases(list(o, 'networkAlias'), options.networks);
  if (o['volume']) options.volumes = list(o, 'volume').map((v) => parseVolume(v, checkSources));
  if (o['mount']) options.mounts = list(o, 'mount').map((m) => parseMount(m, checkSources));
  if (o['tmpfs']) options.tmpfs = parseTmpfs(list(o, 'tmpfs'));
  const user = text(o, 'user');
  if (user !== undefined) {
    if (!/^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$/.test(user)) throw usageError(`--user "${user}" is not a user; use NAME, UID, or UID:GID`);
    options.user = user;
  }
  const workdir = text(o, 'workdir');
  if (workdir !== undefined) {
    if (!workdir.startsWith('/')) throw usageError(`--workdir "${workdir}" is not absolute; write it from /`);
    options.workdir = workdir;
  }
  const entrypoint = text(o, 'entrypoint');
  if (entrypoint !== undefined) options.entrypoint = entrypoint;
  if (command.length > 0) options.command = [...command];
  const memory = text(o, 'memory');
  if (memory !== undefined) options.memoryBytes = parseMemory(memory);
  const cpus = text(o, 'cpus');
  if (cpus !== undefined) options.nanoCpus = parseCpus(cpus);
  const pids = text(o, 'pidsLimit');
  if (pids !== undefined) options.pidsLimit = parsePidsLimit(pids);
  if (o['readOnly']) options.readOnly = true;
  if (o['capAdd']) options.capAdd = parseCapabilities(list(o, 'capAdd'), '--cap-add');
  if (o['capDrop']) options.capDrop = parseCapabilities(list(o, 'capDrop'), '--cap-drop');
  if (o['label']) options.labels = parseLabels(list(o, 'label'));
  if (o['addHost']) options.addHosts = parseAddHosts(list(o, 'addHost'));
  if (o['dns']) options.dns = parseDns(list(o, 'dns'));
  const health = parseHealth({
    ...(o['healthCmd'] !== undefined ? { cmd: String(o['healthCmd']) } : {}),
    ...(o['healthInterval'] !== undefined ? { interval: String(o['healthInterval']) } : {}),
    ...(o['healthTimeout'] !== undefined ? { timeout: String(o['healthTimeout']) } : {}),
    ...(o['healthRetries'] !== undefined ? { retries: String(o['healthRetries']) } : {}),
    ...(o['healthStartPeriod'] !== undefined ? { startPeriod: String(o['healthStartPeriod']) } : {}),
    none: o['healthcheck'] === false,
  });
  if (health) options.health = health;
  const stopSignal = text(o, 'stopSignal');
  if (stopSignal !== undefined) options.stopSignal = parseStopSignal(stopSignal);
  return options;
}

/** `--env-file`s, then `--env` over them, as docker does; undefined when neither was given. */
export function environmentFrom(o: Flags): Record<string, string> | undefined {
  if (!o['envFile'] && !o['env']) return undefined;
  return { ...readEnvFiles(list(o, 'envFile')), ...parseEnv(list(o, 'env')) };
}

/** What applies to a local process: its working directory (and the environment). Every other option is refused by name. */
export function refuseForProcesses(options: ReplicaOptions): void {
  for (const key of Object.keys(options) as Array<keyof ReplicaOptions>) {
    if (key === 'workdir' || key === 'command') continue;
    throw usageError(`${OPTION_FLAGS[key]} is for containers: a --runtime process replica is a local process; drop it`);
  }
}

export { compactOptions };
