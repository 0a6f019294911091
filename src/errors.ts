// One error type for everything the user can act on: bad input, a refusal from the engine,
// a pod that is missing or already there. The CLI prints `reuseport-pod: <message>` and exits
// with `exitCode`; anything that is not a PodError is a bug and gets a stack trace.

export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  engineUnreachable: 3,
  notFound: 4,
  conflict: 5,
  notReady: 6,
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class PodError extends Error {
  readonly exitCode: ExitCode;

  constructor(message: string, exitCode: ExitCode = ExitCode.failure, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PodError';
    this.exitCode = exitCode;
  }
}

export const usageError = (message: string): PodError => new PodError(message, ExitCode.usage);

/** Throws when the user interrupted (Ctrl-C): operations call it between steps, then undo. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new PodError('interrupted', ExitCode.interrupted);
}
