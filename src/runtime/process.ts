// The Runtime interface without a container engine: replicas are child processes on the host's own
// network stack, sharing the port with SO_REUSEPORT. Each "container" is a folder of JSON records
// (process-store.ts); a replica's command is run, logged and restarted by a detached keeper
// (process-keeper.ts). The sandbox has no namespace to own: it is a record that holds the pod's
// ports, and answers `/pause --listeners PORT` from the host's /proc/net/tcp{,6}.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { extname } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { packageVersion } from '../package-info.ts';
import { ExitCode, PodError, usageError } from '../errors.ts';
import { unmetHostSysctls } from './host-sysctls.ts';
import { effectiveUid, listeners, serves, treeListensOn } from './proc-net.ts';
import { assertRunnable, requireCommand } from './process-command.ts';
import { isRunning, signalGroup, signalProcess } from './process-pids.ts';
import { ProcessStore, type ProcessRecord, type RunState } from './process-store.ts';
import type {
  ContainerConfig,
  ContainerState,
  ContainerStatus,
  ContainerSummary,
  EngineEvent,
  EngineInfo,
  ExecSession,
  ExecStreams,
  LogOptions,
  PublishedPort,
  Runtime,
  SandboxConfig,
} from './runtime.ts';

const keeperScript = fileURLToPath(new URL(`./process-keeper${extname(fileURLToPath(import.meta.url))}`, import.meta.url));
const POLL_MS = 25;
const KEEPER_START_MS = 5_000;
const EVENTS_POLL_MS = 500;
const LOG_POLL_MS = 200;

function ago(since: Date | undefined): string {
  if (!since) return '';
  const s = Math.max(0, Math.round((Date.now() - since.getTime()) / 1000));
  return s < 60 ? `${s} seconds` : s < 3600 ? `${Math.round(s / 60)} minutes` : `${Math.round(s / 3600)} hours`;
}

const date = (text: string | undefined): Date | undefined => (text ? new Date(text) : undefined);

/**
 * LISTEN sockets on `port` in this (the host's) network namespace that serve `hostIp`, the address
 * the pod is published on: the host is shared, so a listener another program holds on another
 * address of the same port is not one of the pod's.
 */
export function countHostListeners(port: number, hostIp?: string): number {
  return listeners(port).filter((l) => serves(l, hostIp)).length;
}

/** A process listens on the host itself: there is no second port to map to. */
export function assertSamePorts(ports: readonly PublishedPort[]): void {
  for (const p of ports) {
    if (p.hostPort !== p.containerPort) {
      const ip = p.hostIp === undefined ? '' : p.hostIp.includes(':') ? `[${p.hostIp}]:` : `${p.hostIp}:`;
      throw usageError(
        `--port ${ip}${p.hostPort}:${p.containerPort}: with --runtime process the replicas listen on the host itself, so the host port must equal the container port; use --port ${ip}${p.containerPort} (or --port ${ip}${p.hostPort} to listen on ${p.hostPort})`,
      );
    }
  }
}

/** A running process's environment, as the kernel keeps it; undefined when it is not readable. */
function processEnv(pid: number): NodeJS.ProcessEnv | undefined {
  if (pid <= 0) return undefined;
  try {
    const env: NodeJS.ProcessEnv = {};
    for (const item of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
      const eq = item.indexOf('=');
      if (eq > 0) env[item.slice(0, eq)] = item.slice(eq + 1);
    }
    return env;
  } catch {
    return undefined;
  }
}

function matches(labels: Record<string, string>, wanted: Record<string, string>): boolean {
  return Object.entries(wanted).every(([k, v]) => (v === '' ? k in labels : labels[k] === v));
}

export class ProcessRuntime implements Runtime {
  readonly endpoint: string;
  private readonly store: ProcessStore;

  constructor(root?: string) {
    this.store = new ProcessStore(root);
    // A path: pod logic treats the "engine" as local and checks host ports before binding them.
    this.endpoint = this.store.root;
  }

  /** True when `idOrName` is one of this runtime's containers. */
  owns(idOrName: string): boolean {
    return this.store.find(idOrName) !== undefined;
  }

  /** True when a pod of this name has a sandbox, replica or state record here. */
  hasPod(pod: string): boolean {
    return this.store.list().some((r) => r.labels['io.reuseport-pod.pod'] === pod && r.labels['io.reuseport-pod.role'] !== 'lock');
  }

  private require(idOrName: string): ProcessRecord {
    const record = this.store.find(idOrName);
    if (!record) throw new PodError(`container ${idOrName.slice(0, 12)} is gone`, ExitCode.notFound, { cause: { statusCode: 404 } });
    return record;
  }

  async info(): Promise<EngineInfo> {
    return { engine: 'process', version: packageVersion, apiVersion: '-', endpoint: this.endpoint };
  }

  /** There are no images: a replica's "image" is its command, checked when the replica is created. */
  async imageExists(): Promise<boolean> {
    return true;
  }

  async pullImage(ref: string): Promise<void> {
    throw new PodError(`the process runtime has no images to pull (${ref}); run a command instead: create NAME --runtime process --port PORT -- COMMAND`, ExitCode.notFound);
  }

  async buildImage(): Promise<void> {
    throw usageError('the process runtime runs commands, not images: there is nothing to build (drop --runtime process to build the example image)');
  }

  async runPodSandbox(config: SandboxConfig, whileStarting?: (id: string) => Promise<void>): Promise<string> {
    assertSamePorts(config.ports);
    const record = this.store.create({
      name: config.name,
      kind: 'sandbox',
      image: config.image,
      labels: config.labels,
      env: {},
      stopTimeout: 0,
      ports: config.ports,
      cwd: process.cwd(),
    });
    // A process sandbox is only a record: nothing to start, so nothing to overlap with.
    await whileStarting?.(record.id);
    return record.id;
  }

  unmetSysctls(sysctls: Record<string, string>): Record<string, string | undefined> {
    return unmetHostSysctls(sysctls);
  }

  stopPodSandbox(id: string, timeoutS: number): Promise<void> {
    return this.stopContainer(id, timeoutS);
  }

  removePodSandbox(id: string): Promise<void> {
    return this.removeContainer(id);
  }

  async createContainer(sandboxId: string, config: ContainerConfig): Promise<string> {
    const sandbox = this.require(sandboxId);
    const [program = ''] = requireCommand(config.image);
    // A local process has a working directory and an environment, nothing else a container has:
    // what it cannot honour is refused, never dropped.
    const { workdir, ...unsupported } = config.options ?? {};
    const [refused] = Object.keys(unsupported);
    if (refused !== undefined || config.namespaceOptions) {
      throw new PodError(`${config.name}: a local process cannot take the container option ${refused ?? 'networks/hosts/dns'}`, ExitCode.usage);
    }
    const cwd = workdir ?? (sandbox.cwd && existsSync(sandbox.cwd) ? sandbox.cwd : process.cwd());
    assertRunnable(program, cwd, { ...process.env, ...config.env });
    const env = { ...config.env };
    // A port published on one address is what HOST asks the example server (and many others) to bind.
    const host = sandbox.ports?.[0]?.hostIp;
    if (host && env['HOST'] === undefined) env['HOST'] = host;
    const record = this.store.create({
      name: config.name,
      kind: 'process',
      image: config.image,
      labels: config.labels,
      env,
      stopTimeout: config.stopTimeout,
      sandboxId: sandbox.id,
      cwd,
    });
    return record.id;
  }

  async createMarker(config: { name: string; image: string; labels: Record<string, string> }): Promise<string> {
    return this.store.create({ name: config.name, kind: 'marker', image: config.image, labels: config.labels, env: {}, stopTimeout: 0 }).id;
  }

  async startContainer(id: string): Promise<void> {
    const record = this.require(id);
    if (record.kind === 'marker') throw new PodError(`${record.name} is a record, it cannot be started`, ExitCode.failure);
    this.store.clearStopRequest(record.name);
    if (record.kind === 'sandbox') {
      this.store.writeRun(record.name, { state: 'running', keeperPid: 0, keeperStart: '', pid: 0, pidStart: '', restartCount: 0 });
      return;
    }
    const run = this.store.run(record.name);
    if (run && isRunning(run.keeperPid, run.keeperStart)) return;
    // A command whose keeper was killed still runs: it goes before a new keeper starts another.
    if (run && isRunning(run.pid, run.pidStart)) signalGroup(run.pid, 'SIGKILL');
    const loader = extname(keeperScript) === '.ts' ? process.execArgv : [];
    const keeper = spawn(process.execPath, [...loader, keeperScript, this.store.root, record.name], {
      cwd: record.cwd ?? process.cwd(),
      detached: true,
      stdio: 'ignore',
    });
    keeper.unref();
    const deadline = Date.now() + KEEPER_START_MS;
    while (Date.now() < deadline) {
      if (this.store.run(record.name)?.keeperPid === keeper.pid) return;
      if (keeper.exitCode !== null) break;
      await delay(POLL_MS);
    }
    if (keeper.pid) signalProcess(keeper.pid, '', 'SIGKILL');
    throw new PodError(`starting ${record.name}: its keeper process did not start (${keeperScript})`, ExitCode.failure);
  }

  async stopContainer(id: string, timeoutS: number): Promise<void> {
    const record = this.store.find(id);
    if (!record || record.kind === 'marker') return;
    if (record.kind === 'sandbox') {
      const run = this.store.run(record.name);
      this.store.writeRun(record.name, { ...(run ?? { keeperPid: 0, keeperStart: '', pid: 0, pidStart: '', restartCount: 0 }), state: 'exited', exitCode: 0, finishedAt: new Date().toISOString() });
      return;
    }
    const run = this.store.run(record.name);
    if (!run) return;
    if (isRunning(run.keeperPid, run.keeperStart)) {
      this.store.requestStop(record.name, timeoutS);
      signalProcess(run.keeperPid, run.keeperStart, 'SIGTERM');
      // The keeper kills the command after timeoutS; a keeper that hangs is killed a little later.
      const deadline = Date.now() + timeoutS * 1000 + 5_000;
      while (isRunning(run.keeperPid, run.keeperStart) && Date.now() < deadline) await delay(POLL_MS);
    }
    await this.kill(record.name, run);
  }

  /** SIGKILL to the keeper and the command's group, and wait until both are gone. */
  private async kill(name: string, before: RunState): Promise<void> {
    signalProcess(before.keeperPid, before.keeperStart, 'SIGKILL');
    const run = this.store.run(name) ?? before;
    for (const r of [before, run]) if (isRunning(r.pid, r.pidStart)) signalGroup(r.pid, 'SIGKILL');
    const deadline = Date.now() + 5_000;
    while ((isRunning(before.keeperPid, before.keeperStart) || isRunning(run.pid, run.pidStart)) && Date.now() < deadline) await delay(POLL_MS);
    if (run.state !== 'exited') this.store.writeRun(name, { ...run, state: 'exited', pid: 0, exitCode: run.exitCode ?? 137, finishedAt: new Date().toISOString() });
  }

  async restartContainer(id: string, timeoutS: number): Promise<void> {
    await this.stopContainer(id, timeoutS);
    await this.startContainer(id);
  }

  async removeContainer(id: string): Promise<void> {
    const record = this.store.find(id);
    if (!record) return;
    const run = this.store.run(record.name);
    if (record.kind === 'process' && run) await this.kill(record.name, run);
    this.store.remove(record.name);
  }

  async listContainers(labels: Record<string, string>): Promise<ContainerSummary[]> {
    return this.store
      .list()
      .filter((r) => matches(r.labels, labels))
      .map((r) => this.status(r));
  }

  async containerStatus(id: string): Promise<ContainerStatus> {
    return this.status(this.require(id));
  }

  private status(record: ProcessRecord): ContainerStatus {
    const run = this.store.run(record.name);
    const base = { id: record.id, name: record.name, image: record.image, labels: record.labels, created: record.created, env: record.env, sysctls: {} };
    if (record.kind !== 'process') {
      // A sandbox "runs" from its creation until stopped: it has no process and no namespace to lose.
      const state: ContainerState = record.kind === 'marker' ? 'created' : run?.state === 'exited' ? 'exited' : 'running';
      const startedAt = new Date(record.created * 1000);
      return { ...base, state, status: state === 'running' ? `Up ${ago(startedAt)}` : state === 'exited' ? 'Exited (0)' : 'Created', restartCount: 0, pid: 0, networkMode: 'host', ports: record.ports ?? [], startedAt };
    }
    const keeperUp = run !== undefined && isRunning(run.keeperPid, run.keeperStart);
    let commandUp = run !== undefined && isRunning(run.pid, run.pidStart);
    if (run && commandUp && !keeperUp) {
      // Its lifeline (process-keeper.ts) kills a command with its keeper; should someone have
      // killed the watchdog too, the command is ended here, where it is first seen alone: with no
      // keeper nobody reads its output, restarts or stops it, and what we report must be what runs.
      signalGroup(run.pid, 'SIGKILL');
      commandUp = false;
    }
    let state: ContainerState = !run ? 'created' : keeperUp ? (commandUp ? 'running' : 'restarting') : 'exited';
    if (keeperUp && run?.state === 'exited') state = 'exited';
    const status: ContainerStatus = {
      ...base,
      state,
      status:
        state === 'running' ? `Up ${ago(date(run?.startedAt))}` : state === 'created' ? 'Created' : `${state === 'restarting' ? 'Restarting' : 'Exited'} (${run?.exitCode ?? 137}) ${ago(date(run?.finishedAt))} ago`,
      restartCount: run?.restartCount ?? 0,
      pid: state === 'running' ? (run?.pid ?? 0) : 0,
      // What health.ts compares with the sandbox's id: this replica belongs to that sandbox.
      networkMode: `container:${record.sandboxId ?? ''}`,
      ports: [],
    };
    const startedAt = date(run?.startedAt);
    const finishedAt = date(run?.finishedAt);
    if (startedAt) status.startedAt = startedAt;
    if (finishedAt) status.finishedAt = finishedAt;
    if (state === 'exited') status.exitCode = run?.exitCode ?? 137;
    if (state === 'restarting' && run?.exitCode !== undefined) status.exitCode = run.exitCode;
    // The command runs as whoever started its keeper; between restarts the keeper says who.
    const uid = effectiveUid(state === 'running' ? status.pid : keeperUp ? (run?.keeperPid ?? 0) : 0);
    if (uid !== undefined) status.user = { uid };
    return status;
  }

  async listensOn(id: string, port: number): Promise<boolean | undefined> {
    const record = this.require(id);
    const s = this.status(record);
    if (s.state !== 'running') return false;
    const sandbox = record.sandboxId ? this.store.find(record.sandboxId) : undefined;
    const hostIp = sandbox?.ports?.find((p) => p.containerPort === port)?.hostIp;
    return treeListensOn(s.pid, port, (l) => serves(l, hostIp));
  }

  async lastExitCode(id: string): Promise<number | undefined> {
    const record = this.require(id);
    const s = this.status(record);
    // The keeper keeps the last code in run.json across restarts.
    return s.exitCode ?? (s.restartCount > 0 ? this.store.run(record.name)?.exitCode : undefined);
  }

  /** Only what readiness asks the sandbox: `/pause --listeners PORT`, answered from the host's /proc. */
  async exec(id: string, cmd: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const record = this.require(id);
    const [program, flag, port] = cmd;
    if (program === '/pause' && flag === '--listeners' && /^\d+$/.test(port ?? '')) {
      const published = record.ports?.find((p) => p.containerPort === Number(port));
      return { exitCode: 0, stdout: `${countHostListeners(Number(port), published?.hostIp)}\n`, stderr: '' };
    }
    return { exitCode: 126, stdout: '', stderr: `the process runtime cannot run ${cmd.join(' ')} in a container` };
  }

  /**
   * A process replica has no container to enter: the command runs on this host, as the replica
   * does, with its environment (read from the running process, so that INSTANCE, PORT and whatever
   * its keeper inherited are exactly the replica's) and its working directory. There is no TTY to
   * allocate: the user's own terminal already is one, so -t is refused rather than faked.
   */
  async execAttached(id: string, cmd: string[], streams: ExecStreams): Promise<ExecSession> {
    const record = this.require(id);
    const s = this.status(record);
    if (record.kind !== 'process' || s.state !== 'running') throw new PodError(`${record.name} is not running`, ExitCode.notReady);
    if (streams.tty) {
      throw usageError(`-t: a process replica runs on this host, with no terminal of its own to allocate; leave out -t (the command still gets ${record.name}'s environment and working directory), or run it in this terminal yourself`);
    }
    const [program = '', ...args] = cmd;
    const child = spawn(program, args, {
      cwd: record.cwd && existsSync(record.cwd) ? record.cwd : process.cwd(),
      env: processEnv(s.pid) ?? { ...process.env, ...record.env },
      stdio: [streams.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (b: Buffer) => streams.stdout.write(b));
    child.stderr?.on('data', (b: Buffer) => streams.stderr.write(b));
    if (streams.stdin && child.stdin) {
      // The command may exit without reading all of it, as a container's would.
      child.stdin.on('error', () => undefined);
      streams.stdin.pipe(child.stdin);
    }
    const exited = new Promise<number>((resolve) => {
      child.on('error', (err: NodeJS.ErrnoException) => {
        // What a shell answers: 127 not found, 126 found but not runnable.
        streams.stderr.write(`reuseport-pod: ${program}: ${err.code === 'ENOENT' ? 'command not found' : err.message}\n`);
        resolve(err.code === 'ENOENT' ? 127 : 126);
      });
      child.on('close', (code, signal) => resolve(code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0)));
    }).finally(() => {
      if (streams.stdin && child.stdin) streams.stdin.unpipe(child.stdin);
    });
    return {
      exited,
      resize: async () => undefined,
      detach: () => {
        if (streams.stdin && child.stdin) streams.stdin.unpipe(child.stdin);
        child.stdout?.destroy();
        child.stderr?.destroy();
      },
    };
  }

  async logs(id: string, options: LogOptions): Promise<Readable> {
    const record = this.require(id);
    const out = new PassThrough();
    // Held open, so that the last lines are still read after `rm` renamed and deleted the file.
    let fd: number;
    try {
      fd = openSync(this.store.logFile(record.name), 'r');
    } catch {
      out.end();
      return out;
    }
    let offset = 0;
    /** New whole lines (the keeper may be writing the last one) as "TIME TEXT\n". */
    const readLines = (): string[] => {
      const size = fstatSync(fd).size;
      if (size <= offset) return [];
      const buf = Buffer.alloc(size - offset);
      const got = readSync(fd, buf, 0, buf.length, offset);
      const end = buf.subarray(0, got).lastIndexOf(10) + 1;
      offset += end;
      return buf
        .subarray(0, end)
        .toString()
        .split('\n')
        .filter(Boolean)
        .flatMap((l) => {
          try {
            const { time, text } = JSON.parse(l) as { time: string; text: string };
            return [`${time} ${text}\n`];
          } catch {
            return [];
          }
        });
    };
    const lines = readLines();
    for (const l of options.tail === undefined ? lines : lines.slice(Math.max(0, lines.length - options.tail))) out.write(l);
    if (!options.follow) {
      closeSync(fd);
      out.end();
      return out;
    }
    const timer = setInterval(() => {
      const removed = this.store.find(record.name)?.id !== record.id;
      for (const l of readLines()) out.write(l);
      if (removed) out.end();
    }, LOG_POLL_MS);
    out.on('close', () => {
      clearInterval(timer);
      closeSync(fd);
    });
    out.on('finish', () => clearInterval(timer));
    return out;
  }

  /** The engine's events, by comparing the records every half second. */
  async events(labels: Record<string, string>, signal?: AbortSignal): Promise<AsyncIterable<EngineEvent>> {
    const snapshot = async (): Promise<Map<string, ContainerSummary & { restarts: number }>> =>
      new Map(
        this.store
          .list()
          .filter((r) => matches(r.labels, labels))
          .map((r) => {
            const s = this.status(r);
            return [r.id, { ...s, restarts: s.restartCount }];
          }),
      );
    let before = await snapshot();
    return (async function* () {
      while (!signal?.aborted) {
        try {
          await delay(EVENTS_POLL_MS, undefined, signal ? { signal } : {});
        } catch {
          return; // aborted
        }
        const now = await snapshot();
        for (const [id, s] of now) {
          const old = before.get(id);
          const event = (action: string): EngineEvent => ({ action, id, name: s.name, labels: s.labels });
          if (!old) yield event('create');
          if (old && (old.restarts !== s.restarts || (old.state === 'running' && s.state !== 'running'))) yield event('die');
          if (s.state === 'running' && (!old || old.state !== 'running' || old.restarts !== s.restarts)) yield event('start');
        }
        for (const [id, s] of before) if (!now.has(id)) yield { action: 'destroy', id, name: s.name, labels: s.labels };
        before = now;
      }
    })();
  }
}
