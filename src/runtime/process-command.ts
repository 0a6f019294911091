// With the process runtime a replica runs a command instead of an image. The pod spec keeps it in
// its `image` field, as a JSON array of words, so that pod logic (spec hash, rollout, state
// records) carries it unchanged.
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { ExitCode, PodError, usageError } from '../errors.ts';

export function encodeCommand(words: readonly string[]): string {
  return JSON.stringify(words);
}

export function decodeCommand(image: string): string[] | undefined {
  if (!image.startsWith('[')) return undefined;
  try {
    const words = JSON.parse(image) as unknown;
    return Array.isArray(words) && words.length > 0 && words.every((w) => typeof w === 'string') ? (words as string[]) : undefined;
  } catch {
    return undefined;
  }
}

export function requireCommand(image: string): string[] {
  const words = decodeCommand(image);
  if (!words) {
    throw usageError(`the process runtime runs a command, not an image ("${image}"): put it after --, e.g. \`reuseport-pod create web --runtime process --port 8080 -- node server.js\``);
  }
  return words;
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Fails now, like an engine's "executable file not found", rather than in a restart loop. */
export function assertRunnable(program: string, cwd: string, env: NodeJS.ProcessEnv): void {
  if (program.includes('/')) {
    const path = isAbsolute(program) ? program : resolve(cwd, program);
    if (isExecutableFile(path)) return;
    throw new PodError(`command "${program}" is not an executable file (looked at ${path}); check the path`, ExitCode.notFound);
  }
  const dirs = (env['PATH'] ?? '').split(delimiter).filter(Boolean);
  if (dirs.some((d) => isExecutableFile(join(resolve(cwd, d), program)))) return;
  throw new PodError(`command "${program}" is not found in PATH; give its full path, or check the name`, ExitCode.notFound);
}
