// One function per verb: parse the flags, call the pod layer, print the result. Each verb's module
// is imported when that verb runs: `--help`, `ls` and `ps` would otherwise load every verb's code
// (about 60 modules, tens of ms of a start that scripts pay on every call).
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { buildAppImage, OFFICIAL_BASE, localBase } from '../pod/verbs/build-app.ts';
import type { PodContext } from '../pod/context.ts';
import { ExitCode, PodError, usageError } from '../errors.ts';
import { EXPORT_FORMATS, parseExportFormat } from '../pod/export/formats.ts';
import { DEFAULT_MONITOR_S, DEFAULT_STOP_TIMEOUT_S, MAX_REPLICAS, parseMode, type PodSpec, parsePodName, parsePortSpecs, parseReplicas, parseSeconds } from '../pod/model/spec.ts';
import { DEFAULT_APP_IMAGE, DEFAULT_SANDBOX_IMAGE } from '../package-info.ts';
import { isProcessRuntime } from '../runtime/index.ts';
import { processCommand, processOptions, processPorts, rolloutImage } from './process-args.ts';
import { addReplicaFlags, compactOptions, environmentFrom, replicaOptionsFrom } from './replica-flags.ts';
import { engineIsLocal } from '../pod/ops/host-ports.ts';
import { duration, plural, table } from './format.ts';
import { ExitStatus, type Io } from './io.ts';

export type ContextFactory = (command: Command) => PodContext;

const MONITOR_HELP = 'seconds each new replica must stay up after it listens: one that exits or restarts in that window fails the command (0: no window)';
const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];
const json = (io: Io, value: unknown): void => io.out(JSON.stringify(value, null, 2));
/** rollout's options that say how to roll out, not what: the only ones --undo takes. */
const UNDO_KEEPS = ['undo', 'maxSurge', 'waitTimeout', 'monitor', 'json'];

export function registerCommands(program: Command, io: Io, context: ContextFactory): void {
  const create = program
    .command('create')
    .description('start a pod: a sandbox that publishes the ports, and N replicas sharing its network namespace')
    .argument('<name>', 'pod name: lowercase letters, digits, "-", "_", "."')
    .argument('[command...]', 'with --runtime process: the command each replica runs (after --)')
    .option('--runtime <engine>', 'docker (default), or process: replicas as local processes, no container engine')
    .option('-p, --port <[ip:]host:container>', 'publish a port (repeatable); replicas listen on the first container port', collect)
    .option('-r, --replicas <n>', `number of replicas, 1-${MAX_REPLICAS}`, '1')
    .option('-i, --image <image>', 'replica image', DEFAULT_APP_IMAGE)
    .option('-e, --env <key=value>', 'environment for every replica (repeatable); INSTANCE and PORT are set per replica', collect)
    .option('--mode <mode>', 'reuseport: replicas share the sandbox\'s namespace (SO_REUSEPORT); dnat: own namespaces, NAT rules in the sandbox spread connections (any server); host: replicas listen on the host\'s own port (SO_REUSEPORT, --port is one number)', 'reuseport')
    .option('--sandbox-image <image>', 'image of the sandbox container', DEFAULT_SANDBOX_IMAGE)
    .option('--stop-timeout <s>', 'seconds a replica gets to drain after SIGTERM', String(DEFAULT_STOP_TIMEOUT_S))
    .option('--wait-timeout <s>', 'seconds to wait for every replica to listen', '60')
    .option('--monitor <s>', MONITOR_HELP, String(DEFAULT_MONITOR_S));
  addReplicaFlags(create)
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  reuseport-pod create web --port 80:8080 --replicas 3\n' +
        '  reuseport-pod create web --image app:1 --port 80:8080 --replicas 3 --network backend \\\n' +
        '      --env-file prod.env -v ./config.yml:/app/config.yml:ro --memory 256m -- ./server --port 8080\n' +
        '  reuseport-pod create web --runtime process --port 8080 --replicas 3 -- node server.js\n  curl http://127.0.0.1/',
    )
    .action(async (rawName: string, command: string[], o: Record<string, string & string[]>, cmd: Command) => {
      const ctx = context(cmd);
      const [{ createPod }, { modeOf }] = await Promise.all([import('../pod/verbs/create.ts'), import('../pod/modes/index.ts')]);
      const processes = isProcessRuntime(ctx.runtime);
      const mode = parseMode(o['mode']);
      if (processes && mode === 'host') throw usageError("--mode host is for containers: process replicas always run in the host's network namespace; drop --mode host");
      // No namespace to publish from: a port is one number, as with local processes.
      const bare = processes || modeOf({ mode }).hostNamespace;
      const options = processes ? processOptions(o) : replicaOptionsFrom(o, command, engineIsLocal(ctx.runtime.endpoint));
      const spec: PodSpec = {
        name: parsePodName(rawName),
        ports: bare ? processPorts(o['port'] ?? [], processes ? '--runtime process' : `--mode ${mode}`) : parsePortSpecs(o['port'] ?? []),
        replicas: parseReplicas(o['replicas']),
        image: processes ? processCommand(command, cmd.getOptionValueSource('image') === 'cli') : String(o['image']),
        env: environmentFrom(o) ?? {},
        stopTimeout: parseSeconds(o['stopTimeout'], '--stop-timeout'),
        mode,
      };
      const compact = compactOptions(options);
      if (compact) spec.options = compact;
      const waitTimeoutMs = parseSeconds(o['waitTimeout'], '--wait-timeout') * 1000;
      const monitorMs = parseSeconds(o['monitor'], '--monitor') * 1000;
      const result = await createPod(ctx, spec, { sandboxImage: String(o['sandboxImage']), waitTimeoutMs, monitorMs });
      if (o['json']) return json(io, result);
      const [first] = spec.ports;
      io.out(`pod ${result.name}: ${plural(result.replicas.length, 'replica')} of ${result.image} listening on ${result.ports.join(', ')}${result.mode === 'reuseport' ? '' : ` (mode ${result.mode})`} (ready in ${result.seconds.toFixed(1)} s)`);
      if (first) io.out(`  try: curl http://${first.hostIp && first.hostIp !== '0.0.0.0' ? (first.hostIp.includes(':') ? `[${first.hostIp}]` : first.hostIp) : '127.0.0.1'}:${first.hostPort}/`);
    });

  program
    .command('scale')
    .description('add replicas (lowest free numbers first) or remove them (highest first, gracefully)')
    .argument('<name>', 'pod name')
    .requiredOption('-r, --replicas <n>', `number of replicas, 1-${MAX_REPLICAS}`)
    .option('--wait-timeout <s>', 'seconds to wait for new replicas to listen', '60')
    .option('--monitor <s>', MONITOR_HELP, String(DEFAULT_MONITOR_S))
    .option('--json', 'print the result as JSON')
    .action(async (rawName: string, o: Record<string, string>, cmd: Command) => {
      const { scalePod } = await import('../pod/verbs/scale.ts');
      const result = await scalePod(context(cmd), parsePodName(rawName), parseReplicas(o['replicas']), {
        waitTimeoutMs: parseSeconds(o['waitTimeout'], '--wait-timeout') * 1000,
        monitorMs: parseSeconds(o['monitor'], '--monitor') * 1000,
      });
      if (o['json']) return json(io, result);
      const changes = [result.added.length ? `added ${result.added.join(', ')}` : '', result.removed.length ? `removed ${result.removed.join(', ')}` : '', result.replaced.length ? `replaced ${result.replaced.map((r) => `${r.old} -> ${r.new}`).join(', ')}` : ''].filter(Boolean);
      io.out(`pod ${result.name}: ${result.from} -> ${plural(result.to, 'replica')}${changes.length ? ` (${changes.join('; ')})` : ' (nothing to do)'}`);
    });

  program
    .command('ps')
    .description("list a pod's replicas: state, health check, restarts, uptime")
    .argument('<name>', 'pod name')
    .option('--json', 'print as JSON')
    .action(async (rawName: string, o: Record<string, string>, cmd: Command) => {
      const { podProcesses, podStateNote } = await import('../pod/verbs/status.ts');
      const { pod, replicas } = await podProcesses(context(cmd), parsePodName(rawName));
      if (o['json']) return json(io, { pod, replicas });
      // HEALTH is the health check's word; STATE's parenthesis says what else is wrong (stranded, ...).
      const trouble = (r: (typeof replicas)[number]): boolean => r.health !== 'ok' && r.health !== 'down' && r.health !== 'unhealthy';
      io.out(
        table(
          ['NAME', 'STATE', 'HEALTH', 'RESTARTS', 'UPTIME', 'IMAGE'],
          replicas.map((r) => [r.name, trouble(r) ? `${r.state} (${r.health})` : r.state, r.healthCheck ?? '-', String(r.restarts), duration(r.uptimeSeconds), r.image]),
        ),
      );
      if (pod.rules) io.out(`mode dnat: NAT rules in the sandbox's namespace:\n${pod.rules.map((l) => `  ${l}`).join('\n')}`);
      if (pod.state !== 'running') io.err(podStateNote(pod));
    });

  program
    .command('ls')
    .description('list pods: ports, ready/desired replicas, image')
    .option('--runtime <engine>', 'only the pods of docker, or of process (default: both)')
    .option('--json', 'print as JSON')
    .action(async (o: Record<string, string>, cmd: Command) => {
      const { listPods } = await import('../pod/verbs/status.ts');
      const pods = await listPods(context(cmd));
      if (o['json']) return json(io, pods);
      io.out(table(['NAME', 'PORTS', 'READY', 'STATE', 'IMAGE', 'MODE', 'PROJECT'], pods.map((p) => [p.name, p.ports.join(','), `${p.ready}/${p.desired}`, p.state, p.image, p.mode, p.project ?? '-'])));
    });

  program
    .command('logs')
    .description("print the replicas' logs, each line prefixed with the replica's name")
    .argument('<name>', 'pod name')
    .option('-f, --follow', 'keep printing new lines')
    .option('-n, --tail <lines>', 'only the last N lines of each replica')
    .action(async (rawName: string, o: Record<string, string>, cmd: Command) => {
      const tail = o['tail'] === undefined ? undefined : parseSeconds(o['tail'], '--tail', 1_000_000);
      const { podLogs } = await import('../pod/verbs/logs.ts');
      await podLogs(context(cmd), parsePodName(rawName), tail === undefined ? { follow: Boolean(o['follow']) } : { follow: Boolean(o['follow']), tail }, io.out);
    });

  program
    .command('rm')
    .description('remove a pod: replicas first (SIGTERM, drain, then kill), then the sandbox')
    .argument('<name>', 'pod name')
    .option('-t, --timeout <s>', "seconds each replica gets to drain (default: the pod's --stop-timeout)")
    .option('--json', 'print the result as JSON')
    .action(async (rawName: string, o: Record<string, string>, cmd: Command) => {
      const timeoutS = o['timeout'] === undefined ? undefined : parseSeconds(o['timeout'], '--timeout');
      const { removePod } = await import('../pod/verbs/remove.ts');
      const result = await removePod(context(cmd), parsePodName(rawName), timeoutS === undefined ? {} : { timeoutS });
      if (o['json']) return json(io, result);
      io.out(`pod ${result.name} removed (${plural(result.removed.length, 'container')}${result.networks.length ? `, network ${result.networks.join(', ')}` : ''}, ${result.seconds.toFixed(1)} s)`);
    });

  const rollout = program
    .command('rollout')
    .description('replace the replicas with a new image or environment, never with fewer listeners than before')
    .argument('<name>', 'pod name')
    .argument('[command...]', 'a process pod: the new command (after --)')
    .option('-i, --image <image>', 'the new image (default: the current one)')
    .option('-e, --env <key=value>', 'the new environment, replacing the current one (repeatable)', collect)
    .option('--stop-timeout <s>', 'the new seconds a replica gets to drain when stopped (needs no new replicas)')
    .option('--max-surge <n>', 'replicas replaced at a time', '1')
    .option('--wait-timeout <s>', 'seconds to wait for each new replica to listen', '60')
    .option('--monitor <s>', `${MONITOR_HELP}; a failed rollout puts the previous spec back and exits non-zero`, String(DEFAULT_MONITOR_S));
  addReplicaFlags(rollout)
    .option('--json', 'print the result as JSON')
    .option('--undo', 'back to the spec before the last rollout (twice: forward again), with the same guarantees')
    .addHelpText('after', '\nOnly what is given changes: `rollout web --image app:2 --env-file prod.env` keeps every other option.\nA new --env/--env-file replaces the whole environment; a list option (--volume, --label, ...) replaces that list.')
    .action(async (rawName: string, command: string[], o: Record<string, string & string[]>, cmd: Command) => {
      const ctx = context(cmd);
      const undo = Boolean(o['undo']);
      if (undo) {
        // Every option that changes the spec (whatever rollout learns to change) conflicts with it.
        const given = cmd.options.filter((opt) => !UNDO_KEEPS.includes(opt.attributeName()) && cmd.getOptionValueSource(opt.attributeName()) === 'cli').map((opt) => opt.long ?? opt.flags);
        if (command.length > 0) given.push('the command after --');
        if (given.length > 0) throw usageError(`--undo goes back to the previous spec as it was recorded: leave out ${given.join(', ')} (or roll those out without --undo)`);
      }
      const processes = isProcessRuntime(ctx.runtime);
      const image = undo ? undefined : rolloutImage(processes, o['image'], command);
      const changes = undo ? {} : processes ? processOptions(o) : replicaOptionsFrom(o, command, engineIsLocal(ctx.runtime.endpoint));
      const env = undo ? undefined : environmentFrom(o);
      const stopTimeout = o['stopTimeout'] === undefined ? undefined : parseSeconds(o['stopTimeout'], '--stop-timeout');
      const options = {
        ...(o['undo'] ? { undo: true } : {}),
        maxSurge: parseReplicas(o['maxSurge'], '--max-surge'),
        waitTimeoutMs: parseSeconds(o['waitTimeout'], '--wait-timeout') * 1000,
        monitorMs: parseSeconds(o['monitor'], '--monitor') * 1000,
        ...(image ? { image } : {}),
        ...(env ? { env } : {}),
        ...(stopTimeout === undefined ? {} : { stopTimeout }),
        ...(Object.keys(changes).length > 0 ? { options: changes } : {}),
      };
      const { rolloutPod } = await import('../pod/verbs/rollout.ts');
      const result = await rolloutPod(ctx, parsePodName(rawName), options);
      if (o['json']) return json(io, result);
      const timeout = result.stopTimeoutFrom === undefined ? '' : `stop timeout ${result.stopTimeoutFrom} s -> ${result.stopTimeout} s`;
      io.out(
        result.replaced.length === 0
          ? timeout
            ? `pod ${result.name}: ${timeout} (every replica already runs ${result.image} with that environment and those options)`
            : `pod ${result.name}: every replica already runs ${result.image} with that environment and those options (nothing to do)`
          : `pod ${result.name}: ${plural(result.replaced.length, 'replica')} replaced (${result.replaced.map((r) => `${r.old} -> ${r.new}`).join(', ')}), now ${result.image}${timeout ? `, ${timeout}` : ''} (${result.seconds.toFixed(1)} s)`,
      );
    });

  program
    .command('repair')
    .description('bring a pod back to serving: restart stranded replicas, re-create lost ones, start what stopped')
    .argument('<name>', 'pod name')
    .option('--wait-timeout <s>', 'seconds to wait for the replicas to listen', '60')
    .option('--json', 'print the result as JSON')
    .action(async (rawName: string, o: Record<string, string>, cmd: Command) => {
      const { repairPod } = await import('../pod/verbs/repair.ts');
      const result = await repairPod(context(cmd), parsePodName(rawName), { waitTimeoutMs: parseSeconds(o['waitTimeout'], '--wait-timeout') * 1000 });
      if (o['json']) json(io, result);
      else if (result.actions.length > 0) io.out(`pod ${result.name}: ${result.actions.join('; ')} (${result.seconds.toFixed(1)} s)`);
      else if (result.problems.length === 0) io.out(`pod ${result.name}: healthy, nothing to repair`);
      // What repair cannot fix is not "healthy": exit non-zero, saying what it is.
      if (result.problems.length > 0) throw new PodError(`pod ${result.name} is not serving fully: ${result.problems.join('; ')}`, ExitCode.notReady);
    });

  program
    .command('supervise')
    .description('stay in the foreground and repair pods as soon as something breaks (engine events + a periodic check)')
    .argument('[names...]', 'pods to watch (default: all)')
    .option('--interval <s>', 'seconds between full checks', '5')
    .option('--wait-timeout <s>', 'seconds to wait for repaired replicas to listen', '60')
    .action(async (rawNames: string[], o: Record<string, string>, cmd: Command) => {
      const pods = rawNames.map(parsePodName);
      const ctx = context(cmd);
      io.err(`reuseport-pod supervise: watching ${pods.length ? pods.join(', ') : 'every pod'} (Ctrl-C to stop)`);
      const { supervise } = await import('../pod/verbs/supervise.ts');
      await supervise(ctx, {
        pods,
        intervalMs: Math.max(1, parseSeconds(o['interval'], '--interval')) * 1000,
        waitTimeoutMs: parseSeconds(o['waitTimeout'], '--wait-timeout') * 1000,
        log: (line) => io.out(`${new Date().toISOString()} ${line}`),
        signal: ctx.signal ?? new AbortController().signal,
      });
      io.err('reuseport-pod supervise: stopped');
    });

  program
    .command('inspect')
    .description('print everything known about a pod as JSON')
    .argument('<name>', 'pod name')
    .action(async (rawName: string, _o: unknown, cmd: Command) => {
      const { inspectPod } = await import('../pod/verbs/status.ts');
      json(io, await inspectPod(context(cmd), parsePodName(rawName)));
    });

  program
    .command('export')
    .description("write the pod for another orchestrator: a Kubernetes Deployment + Service, or a Compose file")
    .argument('<name>', 'pod name')
    .requiredOption('--format <format>', EXPORT_FORMATS.join(' or '))
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .addHelpText('after', '\nExample:\n  reuseport-pod export web --format kubernetes | kubectl apply -f -\n  reuseport-pod export web --format compose -o compose.yaml && docker compose -f compose.yaml up -d')
    .action(async (rawName: string, o: Record<string, string>, cmd: Command) => {
      const format = parseExportFormat(o['format']);
      const ctx = context(cmd);
      const { exportPod, readExportSource } = await import('../pod/verbs/export.ts');
      const text = exportPod(await readExportSource(ctx.runtime, parsePodName(rawName), format), format);
      const file = o['output'];
      if (file === undefined) return io.out(text);
      try {
        writeFileSync(file, text);
      } catch (err) {
        throw new PodError(`cannot write --output "${file}" (${(err as NodeJS.ErrnoException).code ?? String(err)}); choose a writable path, or leave out -o for stdout`, ExitCode.failure, { cause: err });
      }
      ctx.progress(`wrote ${file} (${format})`);
    });

  program
    .command('info')
    .description('which container engine answers (Docker or Podman), its version and API version, and where')
    .option('--json', 'print as JSON')
    .action(async (o: Record<string, string>, cmd: Command) => {
      const info = await context(cmd).runtime.info();
      if (o['json']) return json(io, info);
      io.out(table(['ENGINE', 'VERSION', 'API', 'ENDPOINT'], [[info.engine, info.version, info.apiVersion, info.endpoint]]));
    });

  program
    .command('exec')
    .description('run a command in one replica (the first serving one by default): migrations, consoles; exits with its exit code')
    .argument('<name>', 'pod name')
    .argument('[command...]', 'the command and its arguments (after --)')
    .option('--replica <n>', 'the replica to run it in, by number (2 for web-2)')
    .option('-i, --interactive', 'keep stdin open and pipe it to the command')
    .option('-t, --tty', 'allocate a TTY (with -i, stdin must be a terminal)')
    .addHelpText('after', '\nA process pod (--runtime process) runs the command on this host, with the replica\'s environment and working directory (no -t).\n\nExamples:\n  reuseport-pod exec web -- env\n  reuseport-pod exec web --replica 2 -it -- sh\n  reuseport-pod exec web -i -- node migrate.js < migrations.sql')
    .action(async (rawName: string, command: string[], o: Record<string, string | boolean>, cmd: Command) => {
      const name = parsePodName(rawName);
      const replica = o['replica'] === undefined ? undefined : parseReplicas(o['replica'], '--replica');
      const term = io.terminal;
      if (!term) throw usageError('exec needs a process with stdin and stdout to attach to the command');
      const interactive = Boolean(o['interactive']);
      const tty = Boolean(o['tty']);
      // docker exec's own check: raw keystrokes need a terminal to come from.
      if (interactive && tty && !term.stdin.isTTY) throw usageError('the input device is not a TTY: -it needs a terminal on stdin; leave out -t to pipe input with -i');
      const ctx = context(cmd);
      const { execInPod } = await import('../pod/verbs/exec.ts');
      const size = () => ({ columns: term.stdout.columns || 80, rows: term.stdout.rows || 24 });
      const session = await execInPod(ctx, name, {
        cmd: command,
        stdout: term.stdout,
        stderr: term.stderr,
        ...(replica === undefined ? {} : { replica }),
        ...(interactive ? { stdin: term.stdin } : {}),
        ...(tty ? { tty: size() } : {}),
      });
      // Keystrokes go to the command's terminal as they are: Ctrl-C interrupts it, not this CLI.
      const raw = interactive && tty;
      if (raw) term.stdin.setRawMode(true);
      const resize = (): void => void session.resize(size().columns, size().rows);
      if (tty) term.stdout.on('resize', resize);
      try {
        // Ctrl-C without a TTY lets go of the command, which keeps running, as docker exec's does.
        const interrupted = new Promise<number>((resolve) =>
          ctx.signal?.addEventListener(
            'abort',
            () => {
              session.detach();
              io.err(`reuseport-pod: let go of the command; it may still be running in ${session.replica}`);
              resolve(ExitCode.interrupted);
            },
            { once: true },
          ),
        );
        throw new ExitStatus(await Promise.race([session.exited, interrupted]));
      } finally {
        if (raw) term.stdin.setRawMode(false);
        term.stdout.off('resize', resize);
      }
    });

  program
    .command('build')
    .description(`build the example app image (${DEFAULT_APP_IMAGE}) from Dockerfile.app`)
    .option('-t, --tag <image>', 'image name', DEFAULT_APP_IMAGE)
    .option('--base-image <image>', `base image (default ${OFFICIAL_BASE}, or ${localBase()} when that cannot be pulled)`)
    .option('--local-base', `use ${localBase()}, made from this machine's node, without trying a registry`)
    .option('--json', 'print the result as JSON')
    .action(async (o: Record<string, string>, cmd: Command) => {
      const result = await buildAppImage(context(cmd), {
        tag: o['tag'],
        ...(o['baseImage'] ? { baseImage: o['baseImage'] } : {}),
        localBase: Boolean(o['localBase']),
      });
      if (o['json']) return json(io, result);
      io.out(`built ${result.image} on ${result.base} (${result.seconds.toFixed(1)} s)`);
    });
}
