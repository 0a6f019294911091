// What every pod operation is handed: the engine, and where to tell the user about slow steps.
import type { Runtime } from '../runtime/runtime.ts';

export interface PodContext {
  runtime: Runtime;
  /** Tool version, written into labels. */
  version: string;
  /** A line about a slow step (stderr in the CLI); never part of the command's result. */
  progress: (line: string) => void;
  /** A line the user should read even when things succeed. */
  warn: (line: string) => void;
  /** Aborted on Ctrl-C: long operations stop between steps and undo what they made. */
  signal?: AbortSignal;
}
