// The project name as Compose derives it: -p, else COMPOSE_PROJECT_NAME (the shell's, else the
// project's .env), else the project folder's name, normalized. v1's `config` does not print the
// name, so it is derived here the way both versions do; v2's printed `name` wins when there is one.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { usageError } from '../errors.ts';

/** The names Compose looks for, in its order, in the folder and then its parents. */
export const COMPOSE_FILE_NAMES = ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml'];

/** Compose's rule: lowercase, and only a-z, 0-9, "-" and "_" kept. */
export const normalizeProjectName = (raw: string): string => raw.toLowerCase().replace(/[^a-z0-9_-]/g, '');

/** The folder the project's relative paths and its .env are read from: the first file's. */
export function projectDirectory(files: readonly string[], env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  const first = files[0] ?? env['COMPOSE_FILE']?.split(env['COMPOSE_PATH_SEPARATOR'] ?? ':')[0];
  if (first) return dirname(resolve(cwd, first));
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (COMPOSE_FILE_NAMES.some((n) => existsSync(join(dir, n)))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/** COMPOSE_PROJECT_NAME from the project's .env (KEY=VALUE lines, optional quotes), as Compose reads it. */
function dotEnvProjectName(dir: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, '.env'), 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*COMPOSE_PROJECT_NAME\s*=\s*(.*?)\s*$/.exec(line);
    if (m) return (m[1] ?? '').replace(/^(["'])(.*)\1$/, '$2');
  }
  return undefined;
}

export function projectName(options: { project?: string; printed?: string; files: readonly string[]; env?: NodeJS.ProcessEnv; cwd?: string }): string {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const dir = projectDirectory(options.files, env, cwd);
  const raw = options.project ?? options.printed ?? (env['COMPOSE_PROJECT_NAME'] || undefined) ?? (dir ? dotEnvProjectName(dir) : undefined) ?? basename(dir ?? cwd);
  const name = normalizeProjectName(raw);
  if (!/^[a-z0-9]/.test(name)) throw usageError(`project name "${raw}" has no letter or digit to start with; give one with -p NAME`);
  return name;
}
