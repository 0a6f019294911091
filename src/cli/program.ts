// The command line: commander for parsing and help; every failure becomes one line and an exit code.
import { Command, CommanderError } from 'commander';
import { ExitCode, PodError } from '../errors.ts';
import { packageVersion } from '../package-info.ts';
import { connectRuntime } from '../runtime/index.ts';
import { registerCommands } from './commands.ts';
import { registerComposeCommands } from './compose-commands.ts';
import { ExitStatus, reportError, type GlobalFlags, type Io } from './io.ts';
import type { PodContext } from '../pod/context.ts';

const EXIT_CODES = `
Exit codes:
  0  done
  1  the engine refused or something failed (the message says what)
  2  bad usage: a flag, a name, a port spec
  3  the container engine cannot be reached (start dockerd, or set DOCKER_HOST)
  4  not found: the pod, or an image
  5  conflict: the pod already exists, or a host port is taken
  6  replicas did not become ready (they exited, or never listened)
  exec exits with the command's own exit code (the tool's own errors start with "reuseport-pod:")

Engine: --engine-socket, else DOCKER_HOST (unix:///var/run/docker.sock by default); Podman's API
socket works too (scripts/setup-podman.sh). \`reuseport-pod info\` says which engine answers.
Without an engine: create NAME --runtime process --port PORT -- COMMAND runs the replicas as local
processes (state in $XDG_STATE_HOME/reuseport-pod; REUSEPORT_POD_RUNTIME=process sets the default).`;

// The first Ctrl-C (or a SIGTERM from a service manager) asks the running operation to stop
// between steps and undo what it made; a second one exits at once.
function interruptSignal(io: Io): AbortSignal {
  const controller = new AbortController();
  const stop = (): void => {
    if (controller.signal.aborted) process.exit(ExitCode.interrupted);
    io.err('reuseport-pod: stopping; cleaning up (Ctrl-C again to quit at once)');
    controller.abort();
  };
  process.on('SIGINT', stop).on('SIGTERM', stop);
  return controller.signal;
}

/** --engine-socket PATH (or unix://PATH) wins over DOCKER_HOST. */
function engineEnv(socket: string | undefined): NodeJS.ProcessEnv {
  if (socket === undefined) return process.env;
  const path = socket.replace(/^unix:\/\//, '');
  if (!path) throw new PodError('--engine-socket needs the path of the engine\'s unix socket, e.g. /run/reuseport-pod/podman.sock', ExitCode.usage);
  return { ...process.env, DOCKER_HOST: `unix://${path}` };
}

export function buildProgram(io: Io): Command {
  // Commander's errors become our one line, with where to read more on the same line.
  const output = (help: string) => ({
    writeOut: (s: string) => io.out(s.trimEnd()),
    writeErr: (s: string) => io.err(s.trimEnd()),
    outputError: (s: string, write: (s: string) => void) => write(`reuseport-pod: ${s.replace(/^error: /, '').trim()} (see ${help})`),
  });
  const program = new Command('reuseport-pod')
    .description('Run N replicas of a server on ONE host port: a sandbox container publishes the port, the replicas share its network namespace and listen with SO_REUSEPORT, and the kernel balances connections. No proxy in the path.')
    .version(packageVersion, '-V, --version')
    .option('--debug', 'show stack traces and engine details on errors')
    .option('-q, --quiet', 'no progress lines on stderr')
    .option('--engine-socket <path>', "the engine's unix socket, e.g. Podman's (default: DOCKER_HOST)")
    .addHelpText('after', EXIT_CODES)
    .configureOutput(output('reuseport-pod --help'));
  program.exitOverride();
  const context = (cmd: Command): PodContext => {
    const flags = cmd.optsWithGlobals<GlobalFlags>();
    return {
      signal: interruptSignal(io),
      runtime: connectRuntime(engineEnv(flags.engineSocket), { runtime: flags.runtime, pod: cmd.args[0], listing: cmd.name() === 'ls' }),
      version: packageVersion,
      progress: (line) => {
        if (!flags.quiet) io.err(line);
      },
      warn: (line) => io.err(`reuseport-pod: warning: ${line}`),
    };
  };
  registerCommands(program, io, context);
  registerComposeCommands(program, io, context);
  for (const sub of program.commands) {
    sub.exitOverride().configureOutput(output(`reuseport-pod ${sub.name()} --help`));
  }
  return program;
}

export async function run(argv: string[], io: Io): Promise<number> {
  const program = buildProgram(io);
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof ExitStatus) return err.code;
    if (err instanceof CommanderError) {
      // help and version "fail" with exit code 0; parse errors are usage errors, already printed.
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    return reportError(io, err, debug);
  }
}
