// Where the CLI writes: results to stdout (JSON with --json), progress and errors to stderr.
import { ExitCode, PodError } from '../errors.ts';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  isTTY: boolean;
  /** The process's own streams, for verbs that attach them to a command (exec); absent in embedders. */
  terminal?: { stdin: NodeJS.ReadStream; stdout: NodeJS.WriteStream; stderr: NodeJS.WriteStream };
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  isTTY: Boolean(process.stderr.isTTY),
  terminal: { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
};

/** Thrown by a verb whose exit code is another program's (exec): nothing to print, just that code. */
export class ExitStatus extends Error {
  readonly code: number;

  constructor(code: number) {
    super(`exit status ${code}`);
    this.code = code;
    this.name = 'ExitStatus';
  }
}

export interface GlobalFlags {
  debug?: boolean;
  quiet?: boolean;
  /** create and ls: docker or process. */
  runtime?: string;
  engineSocket?: string;
}

/** Prints an error the way users should see it; returns the exit code. */
export function reportError(io: Io, err: unknown, debug: boolean): number {
  if (err instanceof PodError) {
    io.err(`reuseport-pod: ${err.message}`);
    if (debug && err.cause instanceof Error && err.cause.stack) io.err(err.cause.stack);
    return err.exitCode;
  }
  const e = err as Error;
  io.err(`reuseport-pod: unexpected error: ${e?.message ?? String(err)}${debug ? '' : ' (run again with --debug for details)'}`);
  if (debug && e?.stack) io.err(e.stack);
  return ExitCode.failure;
}
