// exec: run a command in one replica (migrations, consoles), as `docker compose exec --index N`
// and `kamal app exec` do. Every replica runs the same spec, so any serving one will do: the first
// one that serves (lowest number), unless the user names one.
import type { PodContext } from '../context.ts';
import { ExitCode, PodError, usageError } from '../../errors.ts';
import type { ExecSession, ExecStreams } from '../../runtime/runtime.ts';
import { modeOf } from '../modes/index.ts';
import { assessPod, type AssessedReplica } from '../state/health.ts';
import { requirePod } from '../state/observe.ts';

export interface ExecOptions extends ExecStreams {
  /** The replica's number (`<pod>-<n>`); default: the first that serves. */
  replica?: number;
  cmd: string[];
}

export interface ExecStarted extends ExecSession {
  /** The container the command runs in, e.g. web-2. */
  replica: string;
}

const numbers = (replicas: AssessedReplica[]): string => replicas.map((r) => `${r.n} (${r.status.name}, ${r.status.state})`).join(', ');

export async function execInPod(ctx: PodContext, name: string, options: ExecOptions): Promise<ExecStarted> {
  if (options.cmd.length === 0) throw usageError(`no command to run in "${name}": put it after --, e.g. \`reuseport-pod exec ${name} -- sh\``);
  const pod = await requirePod(ctx.runtime, name);
  const { replicas } = await assessPod(ctx, pod, modeOf(pod.spec));
  if (replicas.length === 0) throw new PodError(`pod "${name}" has no replicas to run a command in; \`reuseport-pod scale ${name} --replicas 1\` starts one`, ExitCode.notReady);
  let chosen: AssessedReplica | undefined;
  if (options.replica !== undefined) {
    chosen = replicas.find((r) => r.n === options.replica);
    if (!chosen) throw new PodError(`pod "${name}" has no replica ${options.replica}; its replicas are ${numbers(replicas)}`, ExitCode.notFound);
    // A stranded replica still runs: a command in it works, though it may not reach the network.
    if (chosen.status.state !== 'running') {
      const others = replicas.filter((r) => r.status.state === 'running').map((r) => r.n);
      const hint = others.length > 0 ? `choose a running one (--replica ${others.join(', ')})` : `\`reuseport-pod repair ${name}\` starts it`;
      throw new PodError(`replica ${chosen.status.name} is ${chosen.status.state}, not running; ${hint}`, ExitCode.notReady);
    }
  } else {
    chosen = replicas.find((r) => r.health === 'ok') ?? replicas.find((r) => r.status.state === 'running');
    if (!chosen) throw new PodError(`no replica of pod "${name}" is running (${numbers(replicas)}); \`reuseport-pod repair ${name}\` starts them`, ExitCode.notReady);
  }
  const { replica: _n, cmd, ...streams } = options;
  const session = await ctx.runtime.execAttached(chosen.status.id, cmd, streams);
  return { ...session, replica: chosen.status.name };
}
