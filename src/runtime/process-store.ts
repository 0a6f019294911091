// The process runtime's "engine state": one folder per container under the user's state directory
// ($XDG_STATE_HOME/reuseport-pod/containers/<name>/). A folder is created with mkdir, which fails
// when the name is taken: the same atomic test-and-set Docker's unique names give the pod lock.
// record.json is what the container is (written once, by its creator); run.json is how it runs
// (written by its keeper); log holds its output as JSON lines.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ExitCode, PodError } from '../errors.ts';
import type { PublishedPort } from './runtime.ts';

export type RecordKind = 'sandbox' | 'process' | 'marker';

export interface ProcessRecord {
  id: string;
  name: string;
  kind: RecordKind;
  /** For processes: the command as a JSON array of words (see process-command.ts). */
  image: string;
  labels: Record<string, string>;
  /** Unix seconds. */
  created: number;
  env: Record<string, string>;
  stopTimeout: number;
  sandboxId?: string;
  ports?: PublishedPort[];
  /** Where the command runs: the folder `create` ran in, inherited from the sandbox. */
  cwd?: string;
}

export interface RunState {
  state: 'running' | 'restarting' | 'exited';
  keeperPid: number;
  keeperStart: string;
  /** The command's process (0 between restarts). */
  pid: number;
  pidStart: string;
  restartCount: number;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
}

export function stateHome(env: NodeJS.ProcessEnv = process.env): string {
  const base = env['XDG_STATE_HOME'] || join(env['HOME'] || homedir(), '.local', 'state');
  return join(base, 'reuseport-pod');
}

/** Docker answers 409 to a taken name; pod logic (lock, create) looks for that status. */
function nameTaken(name: string): PodError {
  return new PodError(`a process container named "${name}" already exists`, ExitCode.conflict, { cause: { statusCode: 409 } });
}

function writeAtomically(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, JSON.stringify(value));
  renameSync(tmp, file);
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export class ProcessStore {
  readonly root: string;
  private readonly containers: string;
  private readonly trash: string;

  constructor(root: string = stateHome()) {
    this.root = root;
    this.containers = join(this.root, 'containers');
    this.trash = join(this.root, 'removed');
  }

  dir(name: string): string {
    return join(this.containers, name);
  }

  logFile(name: string): string {
    return join(this.dir(name), 'log');
  }

  /** Creates the container's folder and record; rejects like Docker's 409 when the name is taken. */
  create(record: Omit<ProcessRecord, 'id' | 'created'>): ProcessRecord {
    mkdirSync(this.containers, { recursive: true });
    try {
      mkdirSync(this.dir(record.name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw nameTaken(record.name);
      throw err;
    }
    const full: ProcessRecord = { ...record, id: randomBytes(32).toString('hex'), created: Math.floor(Date.now() / 1000) };
    writeAtomically(join(this.dir(record.name), 'record.json'), full);
    return full;
  }

  /** Every complete record (a folder whose record is not written yet is a create in progress). */
  list(): ProcessRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.containers);
    } catch {
      return [];
    }
    return names.flatMap((n) => readJson<ProcessRecord>(join(this.dir(n), 'record.json')) ?? []);
  }

  /** By id, id prefix (12+ characters) or name, as Docker resolves them. */
  find(idOrName: string): ProcessRecord | undefined {
    const byName = readJson<ProcessRecord>(join(this.dir(idOrName), 'record.json'));
    if (byName && byName.name === idOrName) return byName;
    if (idOrName.length < 12) return undefined;
    return this.list().find((r) => r.id.startsWith(idOrName));
  }

  run(name: string): RunState | undefined {
    return readJson<RunState>(join(this.dir(name), 'run.json'));
  }

  writeRun(name: string, run: RunState): void {
    if (existsSync(this.dir(name))) writeAtomically(join(this.dir(name), 'run.json'), run);
  }

  /** The timeout a stop asked for, read by the keeper when it gets SIGTERM. */
  requestStop(name: string, timeoutS: number): void {
    writeAtomically(join(this.dir(name), 'stop.json'), { timeoutS });
  }

  stopRequest(name: string): { timeoutS: number } | undefined {
    return readJson(join(this.dir(name), 'stop.json'));
  }

  clearStopRequest(name: string): void {
    rmSync(join(this.dir(name), 'stop.json'), { force: true });
  }

  /** The name is free the moment the folder is renamed away; the files go after. */
  remove(name: string): void {
    mkdirSync(this.trash, { recursive: true });
    const gone = join(this.trash, `${name}.${randomBytes(6).toString('hex')}`);
    try {
      renameSync(this.dir(name), gone);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    rmSync(gone, { recursive: true, force: true });
  }
}
