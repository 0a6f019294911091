// up and down: a Compose project's services that publish ports, run as pods. The installed
// Compose reads the files (src/compose/); the pod layer converges (src/pod/verbs/up.ts, down.ts).
import type { Command } from 'commander';
import { usageError } from '../errors.ts';
import type { ComposeFlags } from '../compose/installed.ts';
import type { LoadedProject } from '../compose/load.ts';
import { DEFAULT_MONITOR_S, parsePodName, parseSeconds } from '../pod/model/spec.ts';
import type { UpPodResult } from '../pod/verbs/up.ts';
import type { ContextFactory } from './commands.ts';
import { plural } from './format.ts';
import type { Io } from './io.ts';

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];
const json = (io: Io, value: unknown): void => io.out(JSON.stringify(value, null, 2));
const shellQuote = (s: string): string => (/^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

function scaleFlags(pairs: readonly string[]): Record<string, string> {
  const scale: Record<string, string> = {};
  for (const pair of pairs) {
    const m = /^([^=]+)=(.*)$/.exec(pair);
    if (!m) throw usageError(`--scale "${pair}" is not SERVICE=N; e.g. --scale app=3`);
    scale[m[1] ?? ''] = m[2] ?? '';
  }
  return scale;
}

function describe(p: UpPodResult): string {
  const seconds = ` (${p.seconds.toFixed(1)} s)`;
  if (p.action === 'up-to-date') return `pod ${p.name} is up to date (${plural(p.replicas, 'replica')} of ${p.image} on ${p.ports.join(', ')})`;
  if (p.action === 'created') return `pod ${p.name} created: ${plural(p.replicas, 'replica')} of ${p.image} on ${p.ports.join(', ')}${seconds}`;
  const replaced = p.replaced.length > 0 ? `, ${plural(p.replaced.length, 'replica')} replaced` : '';
  return `pod ${p.name} updated (${p.causes.join('; ')})${replaced}: ${plural(p.replicas, 'replica')} of ${p.image}${seconds}`;
}

/** The command that starts the services that are not pods, with the same files and project. */
function composeHint(project: LoadedProject, flags: ComposeFlags, globalArgs: (flags: ComposeFlags) => string[]): string {
  return [project.tool.command, ...globalArgs(flags).map(shellQuote), 'up', '-d', ...project.others].join(' ');
}

export function registerComposeCommands(program: Command, io: Io, context: ContextFactory): void {
  program
    .command('up')
    .description("run a Compose project's services that publish ports as pods, and converge them on the file: create, lossless rollout, scale, or nothing")
    .argument('[services...]', 'only these services (default: all)')
    .option('-f, --file <file>', 'Compose file (repeatable; merged in order, as Compose does)', collect)
    .option('-p, --project-name <name>', 'project name (default: COMPOSE_PROJECT_NAME, else the folder name)')
    .option('--profile <name>', 'enable the services of a profile (repeatable; also COMPOSE_PROFILES)', collect)
    .option('--scale <service=n>', 'replicas of a service, over deploy.replicas and scale (repeatable)', collect)
    .option('--wait-timeout <s>', 'seconds to wait for each new replica to listen', '60')
    .option('--monitor <s>', 'seconds each new replica must stay up after it listens', String(DEFAULT_MONITOR_S))
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  reuseport-pod up --scale app=3\n  reuseport-pod up -f compose.yaml -f compose.prod.yaml app\nServices without ports are not pods: up prints the Compose command that starts them.')
    .action(async (services: string[], o: Record<string, string & string[]>, cmd: Command) => {
      const flags = { files: o['file'] ?? [], ...(o['projectName'] ? { project: String(o['projectName']) } : {}), ...(o['profile'] ? { profiles: o['profile'] } : {}) };
      const ctx = context(cmd);
      // The Compose schema's validator (ajv) takes tens of ms to load, and the verbs' modules some
      // more: only up pays for them.
      const [{ loadProject }, { globalArgs }, { upProject }] = await Promise.all([import('../compose/load.ts'), import('../compose/installed.ts'), import('../pod/verbs/up.ts')]);
      const project = await loadProject({ ...flags, services, scale: scaleFlags(o['scale'] ?? []) }, ctx.warn);
      const result = await upProject(ctx, {
        project: project.name,
        pods: project.pods.map((p) => ({
          spec: p.spec,
          dependencies: p.dependsOn.map((dep) => ({
            labels: { 'com.docker.compose.project': project.name, 'com.docker.compose.service': dep },
            missing: `${dep}, which does not run; start it first: ${project.tool.command} ${[...globalArgs(flags).map(shellQuote), 'up', '-d', dep].join(' ')}`,
          })),
        })),
        networks: project.networks,
        volumes: project.volumes,
        waitTimeoutMs: parseSeconds(o['waitTimeout'], '--wait-timeout') * 1000,
        monitorMs: parseSeconds(o['monitor'], '--monitor') * 1000,
      });
      if (o['json']) return json(io, { ...result, notPods: project.others });
      for (const n of result.networksCreated) io.out(`network ${n} created`);
      for (const v of result.volumesCreated) io.out(`volume ${v} created`);
      for (const p of result.pods) io.out(describe(p));
      if (result.pods.length === 0) io.out(`project ${project.name}: no selected service publishes a port, so there is no pod to run`);
      if (project.others.length > 0) {
        io.out(`not pods (no ports): ${project.others.join(', ')}; start ${project.others.length === 1 ? 'it' : 'them'} with: ${composeHint(project, flags, globalArgs)}`);
      }
    });

  program
    .command('down')
    .description("remove a Compose project's pods (gracefully, as rm), and the networks up made for them")
    .argument('[services...]', "only these services' pods (networks and volumes then stay)")
    .option('-f, --file <file>', 'Compose file (repeatable), for the project name', collect)
    .option('-p, --project-name <name>', 'project name (default: COMPOSE_PROJECT_NAME, else the folder name)')
    .option('-v, --volumes', "remove the project's named volumes too (those with its Compose label), as docker compose down --volumes")
    .option('-t, --timeout <s>', "seconds each replica gets to drain (default: the pod's stop timeout)")
    .option('--json', 'print the result as JSON')
    .action(async (services: string[], o: Record<string, string & string[]>, cmd: Command) => {
      const [{ projectName }, { downProject }] = await Promise.all([import('../compose/project.ts'), import('../pod/verbs/down.ts')]);
      const project = projectName({ ...(o['projectName'] ? { project: String(o['projectName']) } : {}), files: o['file'] ?? [] });
      const timeoutS = o['timeout'] === undefined ? undefined : parseSeconds(o['timeout'], '--timeout');
      const result = await downProject(context(cmd), {
        project,
        ...(services.length > 0 ? { pods: services.map((s) => parsePodName(`${project}-${s}`)) } : {}),
        volumes: Boolean(o['volumes']),
        resourceLabels: { 'com.docker.compose.project': project },
        ...(timeoutS === undefined ? {} : { timeoutS }),
      });
      if (o['json']) return json(io, result);
      if (result.pods.length === 0) io.out(`project ${project}: no pods to remove`);
      else io.out(`project ${project}: removed ${plural(result.pods.length, 'pod')} (${result.pods.join(', ')}; ${plural(result.containers, 'container')}, ${result.seconds.toFixed(1)} s)`);
      for (const n of result.networks) io.out(`network ${n} removed`);
      for (const v of result.volumes) io.out(`volume ${v} removed`);
      for (const k of result.kept) io.out(k.reason);
    });
}
