// The installed Compose resolves the user's files: its file lookup, several -f merged, .env and
// ${VAR:-default} interpolation, $$ escapes. We ask it (`config`) instead of re-implementing that
// resolution: Compose v2 (`docker compose`, JSON) when the docker CLI has the plugin, else v1
// (`docker-compose`, as Debian ships it; it prints YAML).
import { execFile } from 'node:child_process';
import { ExitCode, PodError } from '../errors.ts';

export interface ComposeTool {
  /** The command a user types, for the hints we print (`docker compose` or `docker-compose`). */
  command: string;
  argv: string[];
  /** v1 `config` prints YAML; v2 can print JSON. */
  json: boolean;
  /** Its version, for the com.docker.compose.version label Compose puts on what it makes. */
  version: string;
}

export interface ComposeFlags {
  files: string[];
  project?: string;
  /** `--profile`s given (COMPOSE_PROFILES reaches Compose through the environment). */
  profiles?: string[];
}

interface Run {
  code: number | 'missing';
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { env, maxBuffer: 64 * 1024 * 1024, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = (err as NodeJS.ErrnoException | null)?.code;
      if (code === 'ENOENT') return resolve({ code: 'missing', stdout, stderr });
      resolve({ code: err ? (typeof code === 'number' ? code : 1) : 0, stdout, stderr });
    });
  });
}

/** Which Compose answers here: v2 first (the one Docker documents), then v1. */
export async function findCompose(env: NodeJS.ProcessEnv = process.env): Promise<ComposeTool> {
  const v2 = await run('docker', ['compose', 'version', '--short'], env);
  if (v2.code === 0) return { command: 'docker compose', argv: ['docker', 'compose'], json: true, version: v2.stdout.trim().replace(/^v/, '') };
  const v1 = await run('docker-compose', ['version', '--short'], env);
  if (v1.code === 0) return { command: 'docker-compose', argv: ['docker-compose'], json: false, version: v1.stdout.trim() };
  throw new PodError(
    'up reads Compose files through the installed Compose, and neither `docker compose` nor `docker-compose` answers here; install one (Debian: apt-get install docker-compose)',
    ExitCode.usage,
  );
}

/** The global flags, as both versions take them before the subcommand. */
export const globalArgs = (flags: ComposeFlags): string[] => [
  ...flags.files.flatMap((f) => ['-f', f]),
  ...(flags.project ? ['-p', flags.project] : []),
  ...(flags.profiles ?? []).flatMap((p) => ['--profile', p]),
];

/** Compose's complaint on one line: it spreads one error over several (v1: "... invalid because:\n..."). */
export function oneLine(stderr: string): string {
  return stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^(WARN|WARNING)\b/.test(l))
    .join(' ')
    .replace(/\s+/g, ' ');
}

/**
 * The resolved model, as the installed Compose prints it; a file it refuses is a usage error (exit
 * 2). What it says on stderr while succeeding ("The MESSAGE variable is not set") goes to `warn`.
 */
export async function resolvedModel(tool: ComposeTool, flags: ComposeFlags, env: NodeJS.ProcessEnv = process.env, warn: (line: string) => void = () => undefined): Promise<Record<string, unknown>> {
  const [file = '', ...pre] = tool.argv;
  const args = [...pre, ...globalArgs(flags), 'config', ...(tool.json ? ['--format', 'json'] : [])];
  const out = await run(file, args, env);
  if (out.code !== 0) throw new PodError(`${tool.command} config: ${oneLine(out.stderr) || `exit code ${out.code}`}`, ExitCode.usage);
  for (const line of out.stderr.split('\n').map((l) => l.trim()).filter(Boolean)) warn(`${tool.command} config: ${line}`);
  let model: unknown;
  try {
    // yaml is loaded here, not at the top: this module is on the CLI's start-up path (globalArgs).
    model = tool.json ? JSON.parse(out.stdout) : (await import('yaml')).default.parse(out.stdout);
  } catch (err) {
    throw new PodError(`${tool.command} config printed something that is not ${tool.json ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`, ExitCode.failure);
  }
  if (!model || typeof model !== 'object' || Array.isArray(model)) throw new PodError(`${tool.command} config printed no Compose model`, ExitCode.failure);
  return (tool.json ? model : unescapeDollars(model)) as Record<string, unknown>;
}

/**
 * v1's `config` writes every string with its `$` doubled again, so that its output is itself a
 * Compose file; the values the containers get have them single (`$$` in a file is one `$`).
 */
export const unescapeDollars = (node: unknown): unknown =>
  typeof node === 'string'
    ? node.replaceAll('$$', '$')
    : Array.isArray(node)
      ? node.map(unescapeDollars)
      : node && typeof node === 'object'
        ? Object.fromEntries(Object.entries(node).map(([k, v]) => [k, unescapeDollars(v)]))
        : node;
