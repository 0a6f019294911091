// The Docker Engine API through dockerode. Podman's Docker-compatible API (`podman system service`)
// speaks it too; where Podman answers differently, this file adapts, so that pod logic never asks
// which engine it talks to (see the Podman notes at `engineKind`).
import type Docker from 'dockerode';
import { createInterface } from 'node:readline';
import { readlinkSync } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExitCode, PodError } from '../errors.ts';
import { engineMessage, isUnreachable, statusOf, unreachable } from './docker-errors.ts';
import { healthOf, type InspectHealth } from './docker-health.ts';
import { loadDockerode } from './dockerode.ts';
import { countListening, effectiveUid, treeListensOn } from './proc-net.ts';
import type {
  BuildOptions,
  ContainerConfig,
  ContainerOptions,
  ContainerState,
  HealthConfig,
  NamespaceOptions,
  ContainerStatus,
  ContainerSummary,
  EngineEvent,
  EngineInfo,
  ExecSession,
  ExecStreams,
  HelperConfig,
  LogOptions,
  PublishedPort,
  Runtime,
  SandboxConfig,
  NetworkSummary,
  NetworkNamespace,
} from './runtime.ts';

const RESTART_POLICY = { Name: 'unless-stopped', MaximumRetryCount: 0 };
const EXEC_TIMEOUT_MS = 5_000;
/** Docker's default grace period, written out: Podman's API takes a missing StopTimeout as 0 (SIGKILL at once). */
const SANDBOX_STOP_TIMEOUT_S = 10;
/** Podman's API does not report a container's sysctls: the sandbox carries them in this label too. */
const SYSCTLS_LABEL = 'io.reuseport-pod.sysctls';

export type EngineKind = 'docker' | 'podman';

/** Podman's words for container events that Docker names otherwise. */
const PODMAN_ACTIONS: Record<string, string> = { remove: 'destroy' };

export function describeEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return env['DOCKER_HOST'] || 'unix:///var/run/docker.sock';
}

/** Podman names itself in the version's components ("Podman Engine"); Docker never does. */
export function engineOf(version: { Components?: Array<{ Name?: string }> }): EngineKind {
  return (version.Components ?? []).some((c) => /podman/i.test(c.Name ?? '')) ? 'podman' : 'docker';
}

/**
 * Podman shows a container's image by its full name: `localhost/<name>` for one loaded or built
 * without a registry, `docker.io/<name>` for one tagged through the API. Docker shows the short
 * name the container was created with; so does this runtime, on both engines.
 */
export function dockerImageName(image: string, engine: EngineKind): string {
  return engine === 'podman' ? image.replace(/^(localhost|docker\.io(\/library)?)\//, '') : image;
}

function portKey(p: PublishedPort): string {
  return `${p.containerPort}/tcp`;
}

function toDate(text: string | undefined): Date | undefined {
  if (!text || text.startsWith('0001-')) return undefined;
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function envObject(list: string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq > 0) env[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return env;
}

export class DockerRuntime implements Runtime {
  readonly endpoint: string;
  private readonly docker: Docker;
  private kind: Promise<EngineKind> | undefined;
  /** Sandboxes' pids with their network namespaces, for countListeners. */
  private readonly sandboxPids = new Map<string, { pid: number; netns: string }>();

  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.endpoint = describeEndpoint(env);
    const host = env['DOCKER_HOST'] ?? '';
    // Loaded here, not at import: commands that never reach an engine (--help, --version,
    // --runtime process) do not pay for dockerode.
    const Docker = loadDockerode();
    try {
      // A unix socket is taken from `env` (the CLI's --engine-socket puts one there); for anything
      // else docker-modem reads DOCKER_HOST (tcp://, ssh://) from process.env itself.
      this.docker = host.startsWith('unix://') && host.length > 'unix://'.length ? new Docker({ socketPath: host.slice('unix://'.length) }) : new Docker();
    } catch (err) {
      throw new PodError(`DOCKER_HOST="${env['DOCKER_HOST']}" is not an engine address: use unix:///path/to/docker.sock or tcp://HOST:PORT`, ExitCode.usage, { cause: err });
    }
  }

  /** Every engine call goes through here, so that "engine down" reads the same everywhere. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof PodError) throw err;
      if (isUnreachable(err)) throw unreachable(this.endpoint, err);
      throw new PodError(`${what}: ${engineMessage(err)}`, ExitCode.failure, { cause: asDockerStatus(err) });
    }
  }

  async info(): Promise<EngineInfo> {
    const asked = this.call('asking the engine for its version', () => this.docker.version());
    // Remembered while the answer is on its way: a call made meanwhile (create asks whether the
    // pod exists at the same time) waits for this answer instead of asking again.
    if (!this.kind) {
      this.kind = asked.then(engineOf, (err: unknown) => {
        this.kind = undefined;
        throw err;
      });
      this.kind.catch(() => undefined); // the error is this call's to report
    }
    const v = await asked;
    return { engine: engineOf(v), version: v.Version, apiVersion: v.ApiVersion, endpoint: this.endpoint, arch: v.Arch };
  }

  /**
   * Docker or Podman, asked once per runtime. What Podman 4's Docker-compatible API does
   * differently, and where this file handles it:
   * - images are named in full (`localhost/<name>`, `docker.io/<name>`): shown as Docker shows them;
   * - a container created without StopTimeout is killed at once by a `stop` without `t`: the
   *   sandbox gets Docker's 10 s written out (replicas always carry theirs);
   * - sysctls are applied but never reported: the sandbox also carries them in a label;
   * - a taken container name is a 500, not Docker's 409: turned into 409 (the lock relies on it);
   * - a sandbox cannot be removed while replicas share its namespace: the error says so (pod
   *   logic removes replicas first anyway, which Docker needs as well, or they are stranded);
   * - a container being stopped is "stopping": reported "running", as Docker does until it exits;
   * - events: a label filter without a value matches nothing, so labels are matched here; a
   *   removal is `remove`, named `destroy` as on Docker;
   * NetworkMode "container:<id>" works as on Docker (no EndpointsConfig is ever sent with it),
   * and exec and logs need nothing.
   */
  private engineKind(): Promise<EngineKind> {
    // A failed ask is not remembered: a supervisor outlives an engine restart.
    this.kind ??= this.call('asking the engine for its version', () => this.docker.version()).then(engineOf, (err: unknown) => {
      this.kind = undefined;
      throw err;
    });
    return this.kind;
  }

  async imageExists(ref: string): Promise<boolean> {
    try {
      await this.docker.getImage(ref).inspect();
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      if (isUnreachable(err)) throw unreachable(this.endpoint, err);
      throw new PodError(`inspecting image ${ref}: ${engineMessage(err)}`, ExitCode.failure, { cause: err });
    }
  }

  async pullImage(ref: string, onProgress?: (line: string) => void): Promise<void> {
    const stream = await this.call(`pulling ${ref}`, () => this.docker.pull(ref) as Promise<NodeJS.ReadableStream>);
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (err: Error | null, output: Array<{ error?: string }>) => {
          const failed = err ?? output.find((o) => o.error);
          if (failed) reject(new PodError(`pulling ${ref} failed: ${engineMessage(failed instanceof Error ? failed : failed.error)}`, ExitCode.notFound));
          else resolve();
        },
        (event: { status?: string; id?: string }) => onProgress?.(`${event.id ? `${event.id}: ` : ''}${event.status ?? ''}`),
      );
    });
  }

  async buildImage(options: BuildOptions): Promise<void> {
    const stream = await this.call(`building ${options.tag}`, () =>
      this.docker.buildImage(
        { context: options.context, src: options.files },
        {
          t: options.tag,
          dockerfile: options.dockerfile,
          buildargs: options.buildArgs ?? {},
          labels: options.labels ?? {},
          rm: true,
          forcerm: true,
        },
      ),
    );
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (err: Error | null, output: Array<{ error?: string }>) => {
          const failed = err?.message ?? output.find((o) => o.error)?.error;
          if (failed) reject(new PodError(`building ${options.tag} failed: ${failed.trim()}`, ExitCode.failure));
          else resolve();
        },
        (event: { stream?: string; status?: string }) => {
          const line = (event.stream ?? event.status ?? '').trim();
          if (line) options.onProgress?.(line);
        },
      );
    });
  }

  async runPodSandbox(config: SandboxConfig, whileStarting?: (id: string) => Promise<void>): Promise<string> {
    const exposed: Record<string, object> = {};
    const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
    for (const p of config.ports) {
      exposed[portKey(p)] = {};
      (bindings[portKey(p)] ??= []).push({ HostIp: p.hostIp ?? '', HostPort: String(p.hostPort) });
    }
    const podman = (await this.engineKind()) === 'podman';
    const labels = podman && Object.keys(config.sysctls).length > 0 ? { ...config.labels, [SYSCTLS_LABEL]: JSON.stringify(config.sysctls) } : config.labels;
    const container = await this.call(`creating sandbox ${config.name}`, () =>
      this.docker.createContainer({
        name: config.name,
        Image: config.image,
        Labels: labels,
        ExposedPorts: exposed,
        StopTimeout: SANDBOX_STOP_TIMEOUT_S,
        ...networking(config.namespace, config.namespaceOptions?.aliases),
        HostConfig: {
          ...networkMode(config.namespace, ''),
          ...resolverConfig(config.namespaceOptions),
          PortBindings: bindings,
          Sysctls: config.sysctls,
          CapDrop: ['ALL'],
          ReadonlyRootfs: true,
          SecurityOpt: ['no-new-privileges'],
          RestartPolicy: RESTART_POLICY,
        },
      }),
    );
    // Its outcome is caught at once: a failure while the start is awaited is no unhandled rejection.
    const early = whileStarting?.(container.id).then(
      () => ({ failed: false as const }),
      (error: unknown) => ({ failed: true as const, error }),
    );
    try {
      await this.joinNetworks(container.id, config.name, config.namespaceOptions);
      await this.call(`starting sandbox ${config.name}`, () => container.start());
    } catch (err) {
      // What whileStarting made joins this sandbox: the caller removes it, then the sandbox.
      if (early) {
        await early;
        throw err;
      }
      // CRI's RunPodSandbox is all or nothing: a sandbox that cannot start is not left Created.
      await this.removeContainer(container.id).catch(() => undefined);
      throw err;
    }
    const made = await early;
    if (made?.failed) throw made.error;
    return container.id;
  }

  stopPodSandbox(id: string, timeoutS: number): Promise<void> {
    return this.stopContainer(id, timeoutS);
  }

  removePodSandbox(id: string): Promise<void> {
    return this.removeContainer(id);
  }

  async createContainer(sandboxId: string, config: ContainerConfig): Promise<string> {
    const o = config.options ?? {};
    const container = await this.call(`creating ${config.name}`, () =>
      this.docker.createContainer({
        name: config.name,
        Image: config.image,
        Labels: config.labels,
        Env: Object.entries(config.env).map(([k, v]) => `${k}=${v}`),
        StopTimeout: config.stopTimeout,
        ...processConfig(o),
        ...networking(config.namespace, config.namespaceOptions?.aliases),
        HostConfig: {
          ...networkMode(config.namespace ?? { kind: 'pod' }, sandboxId),
          ...resolverConfig(config.namespaceOptions),
          ...limitsConfig(o),
          RestartPolicy: RESTART_POLICY,
          SecurityOpt: ['no-new-privileges'],
        },
      }),
    );
    try {
      await this.joinNetworks(container.id, config.name, config.namespaceOptions);
    } catch (err) {
      await this.removeContainer(container.id).catch(() => undefined);
      throw err;
    }
    return container.id;
  }

  /** Networks beyond the first, joined before the container starts (as `docker run --network a --network b` does). */
  private async joinNetworks(id: string, name: string, options: NamespaceOptions | undefined): Promise<void> {
    for (const network of options?.networks ?? []) {
      const endpoint = options?.aliases?.length ? { EndpointConfig: { Aliases: options.aliases } } : {};
      await this.call(`connecting ${name} to network ${network}`, () => this.docker.getNetwork(network).connect({ Container: id, ...endpoint }));
    }
  }

  async createMarker(config: { name: string; image: string; labels: Record<string, string> }): Promise<string> {
    const container = await this.call(`creating ${config.name}`, () =>
      this.docker.createContainer({
        name: config.name,
        Image: config.image,
        Labels: config.labels,
        // Never started, but an image without a command cannot even be created.
        Cmd: ['--version'],
        HostConfig: { NetworkMode: 'none' },
      }),
    );
    return container.id;
  }

  async startContainer(id: string): Promise<void> {
    await this.call(`starting ${id.slice(0, 12)}`, () => this.docker.getContainer(id).start());
  }

  async stopContainer(id: string, timeoutS: number): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: timeoutS });
    } catch (err) {
      if (statusOf(err) === 304 || statusOf(err) === 404) return; // already stopped or gone
      if (isUnreachable(err)) throw unreachable(this.endpoint, err);
      throw new PodError(`stopping ${id.slice(0, 12)}: ${engineMessage(err)}`, ExitCode.failure, { cause: err });
    }
  }

  async restartContainer(id: string, timeoutS: number): Promise<void> {
    await this.call(`restarting ${id.slice(0, 12)}`, () => this.docker.getContainer(id).restart({ t: timeoutS }));
  }

  async events(labels: Record<string, string>, signal?: AbortSignal): Promise<AsyncIterable<EngineEvent>> {
    const label = Object.entries(labels).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
    // Podman's filter matches nothing for a label given without a value: there the labels are
    // matched here, on the attributes every event carries (labels included).
    const podman = (await this.engineKind()) === 'podman';
    const filters = podman ? { type: ['container' as const] } : { type: ['container' as const], label };
    const stream = (await this.call('watching engine events', () => this.docker.getEvents({ filters }))) as NodeJS.ReadableStream;
    // The reader is made on the first read: until then the paused stream keeps what arrives, so no
    // event between subscribing and iterating is lost.
    let lines: ReturnType<typeof createInterface> | undefined;
    // Closing the reader ends the iteration even while it waits for an event that never comes.
    const stop = (): void => {
      lines?.close();
      (stream as Readable).destroy();
    };
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop, { once: true });
    return (async function* () {
      if (signal?.aborted) return;
      lines = createInterface({ input: stream as Readable, crlfDelay: Infinity });
      for await (const line of lines) {
        if (!line.trim()) continue;
        const e = JSON.parse(line) as { Action?: string; Actor?: { ID?: string; Attributes?: Record<string, string> } };
        const attributes = e.Actor?.Attributes ?? {};
        if (podman && !Object.entries(labels).every(([k, v]) => (v === '' ? k in attributes : attributes[k] === v))) continue;
        const action = (e.Action ?? '').split(':')[0] ?? '';
        yield { action: podman ? (PODMAN_ACTIONS[action] ?? action) : action, id: e.Actor?.ID ?? '', name: attributes['name'] ?? '', labels: attributes };
      }
    })();
  }

  async createNetwork(name: string, labels: Record<string, string>): Promise<string> {
    const network = await this.call(`creating network ${name}`, () =>
      this.docker.createNetwork({ Name: name, Driver: 'bridge', Labels: labels, CheckDuplicate: true, Attachable: false }),
    );
    return network.id;
  }

  async removeNetwork(name: string): Promise<void> {
    try {
      await this.docker.getNetwork(name).remove();
    } catch (err) {
      if (statusOf(err) === 404) return;
      if (isUnreachable(err)) throw unreachable(this.endpoint, err);
      throw new PodError(`removing network ${name}: ${engineMessage(err)}`, ExitCode.failure, { cause: err });
    }
  }

  /**
   * Podman 4.3's Docker-compatible network list and inspect, asked while a container is attached to
   * the network, leave that network's NETAVARK_ISOLATION rules on the host after the network is
   * removed (measured here: one list, then an ordinary rm, and the rules stay). Its own (libpod)
   * API does not, so Podman's networks are read through it.
   */
  private libpodGet<T>(path: string, options: Record<string, unknown> = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.docker.modem.dial({ path: `/v4.0.0/libpod${path}`, method: 'GET', options, statusCodes: { 200: true, 404: 'no such network', 500: 'server error' } }, (err: unknown, data: unknown) =>
        err ? reject(err) : resolve(data as T),
      );
    });
  }

  async listNetworks(labels: Record<string, string>): Promise<NetworkSummary[]> {
    const label = Object.entries(labels).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
    if ((await this.engineKind()) === 'podman') {
      // docker-modem adds the query only to a path that ends in "?"; a label without a value is
      // matched here, as Podman's filter matches nothing for one.
      const withValue = label.filter((l) => l.includes('='));
      const list = await this.call('listing networks', () => this.libpodGet<Array<{ name: string; labels?: Record<string, string> | null }>>('/networks/json?', { filters: { label: withValue } }));
      const wanted = (n: Record<string, string>): boolean => Object.entries(labels).every(([k, v]) => (v === '' ? k in n : n[k] === v));
      return list.map((n) => ({ name: n.name, labels: n.labels ?? {} })).filter((n) => wanted(n.labels));
    }
    const list = await this.call('listing networks', () => this.docker.listNetworks({ filters: { label } }));
    return list.map((n) => ({ name: n.Name, labels: n.Labels ?? {} }));
  }

  async createVolume(name: string, labels: Record<string, string>): Promise<string> {
    await this.call(`creating volume ${name}`, () => this.docker.createVolume({ Name: name, Driver: 'local', Labels: labels }));
    return name;
  }

  async volumeExists(name: string): Promise<boolean> {
    try {
      await this.docker.getVolume(name).inspect();
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      if (isUnreachable(err)) throw unreachable(this.endpoint, err);
      throw new PodError(`inspecting volume ${name}: ${engineMessage(err)}`, ExitCode.failure, { cause: err });
    }
  }

  async listVolumes(labels: Record<string, string>): Promise<NetworkSummary[]> {
    const label = Object.entries(labels).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
    const list = await this.call('listing volumes', () => this.docker.listVolumes({ filters: { label } }));
    return (list.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} }));
  }

  async removeVolume(name: string): Promise<void> {
    try {
      await this.docker.getVolume(name).remove();
    } catch (err) {
      if (statusOf(err) === 404) return;
      if (isUnreachable(err)) throw unreachable(this.endpoint, err);
      throw new PodError(`removing volume ${name}: ${engineMessage(err)}`, ExitCode.failure, { cause: err });
    }
  }

  async networkExists(name: string): Promise<boolean> {
    try {
      // Podman's own API: its Docker-compatible inspect leaks isolation rules (see libpodGet).
      if ((await this.engineKind()) === 'podman') await this.libpodGet(`/networks/${encodeURIComponent(name)}/json`);
      else await this.docker.getNetwork(name).inspect();
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      if (isUnreachable(err)) throw unreachable(this.endpoint, err);
      throw new PodError(`inspecting network ${name}: ${engineMessage(err)}`, ExitCode.failure, { cause: err });
    }
  }

  async networkSubnet(name: string): Promise<string | undefined> {
    let info: { IPAM?: { Config?: Array<{ Subnet?: string }> | null } };
    try {
      if ((await this.engineKind()) === 'podman') {
        const n = await this.libpodGet<{ subnets?: Array<{ subnet?: string }> | null }>(`/networks/${encodeURIComponent(name)}/json`);
        info = { IPAM: { Config: (n.subnets ?? []).map((s) => ({ Subnet: s.subnet ?? '' })) } };
      } else {
        info = (await this.docker.getNetwork(name).inspect()) as typeof info;
      }
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      if (isUnreachable(err)) throw unreachable(this.endpoint, err);
      throw new PodError(`inspecting network ${name}: ${engineMessage(err)}`, ExitCode.failure, { cause: err });
    }
    return (info.IPAM?.Config ?? []).map((c) => c.Subnet ?? '').find((s) => /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(s));
  }

  async runHelper(sandboxId: string, config: HelperConfig): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const container = await this.call(`creating ${config.name}`, () =>
      this.docker.createContainer({
        name: config.name,
        Image: config.image,
        Labels: config.labels,
        Cmd: config.cmd,
        Env: Object.entries(config.env).map(([k, v]) => `${k}=${v}`),
        HostConfig: {
          NetworkMode: `container:${sandboxId}`,
          CapDrop: ['ALL'],
          CapAdd: config.capAdd,
          ReadonlyRootfs: true,
          SecurityOpt: ['no-new-privileges'],
        },
      }),
    );
    try {
      await this.call(`starting ${config.name}`, () => container.start());
      const gaveUp = new AbortController();
      const waited = await Promise.race([
        this.call(`waiting for ${config.name}`, () => container.wait() as Promise<{ StatusCode: number }>),
        sleep(config.timeoutMs, undefined, { signal: gaveUp.signal }).catch(() => undefined),
      ]).finally(() => gaveUp.abort());
      if (!waited) return { exitCode: -1, stdout: '', stderr: `${config.name} did not finish within ${config.timeoutMs} ms` };
      const raw = (await this.call(`reading the output of ${config.name}`, () =>
        container.logs({ stdout: true, stderr: false, follow: false }) as unknown as Promise<Buffer>,
      )) as Buffer;
      const rawErr = (await this.call(`reading the output of ${config.name}`, () =>
        container.logs({ stdout: false, stderr: true, follow: false }) as unknown as Promise<Buffer>,
      )) as Buffer;
      return { exitCode: waited.StatusCode, stdout: demuxBuffer(raw).toString(), stderr: demuxBuffer(rawErr).toString() };
    } finally {
      await this.removeContainer(container.id).catch(() => undefined);
    }
  }

  async removeContainer(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      if (statusOf(err) === 404) return;
      // 409 "removal already in progress": someone else is removing it; that is what we want.
      if (statusOf(err) === 409 && /already in progress/.test(engineMessage(err))) return;
      if (isUnreachable(err)) throw unreachable(this.endpoint, err);
      if (/has dependent containers/.test(engineMessage(err))) {
        throw new PodError(`removing ${id.slice(0, 12)}: Podman refuses while other containers share its network namespace; remove those first (${engineMessage(err)})`, ExitCode.failure, { cause: err });
      }
      throw new PodError(`removing ${id.slice(0, 12)}: ${engineMessage(err)}`, ExitCode.failure, { cause: err });
    }
  }

  async listContainers(labels: Record<string, string>): Promise<ContainerSummary[]> {
    const label = Object.entries(labels).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
    const [list, engine] = await Promise.all([this.call('listing containers', () => this.docker.listContainers({ all: true, filters: { label } })), this.engineKind()]);
    return list.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      image: dockerImageName(c.Image, engine),
      labels: c.Labels ?? {},
      state: dockerState(c.State),
      status: c.Status,
      created: c.Created,
    }));
  }

  async containerStatus(id: string): Promise<ContainerStatus> {
    let c: Docker.ContainerInspectInfo;
    const engine = await this.engineKind();
    try {
      c = await this.docker.getContainer(id).inspect();
    } catch (err) {
      if (statusOf(err) === 404) throw new PodError(`container ${id.slice(0, 12)} is gone`, ExitCode.notFound, { cause: err });
      if (isUnreachable(err)) throw unreachable(this.endpoint, err);
      throw new PodError(`inspecting ${id.slice(0, 12)}: ${engineMessage(err)}`, ExitCode.failure, { cause: err });
    }
    const ports: PublishedPort[] = [];
    for (const [key, binds] of Object.entries(c.HostConfig.PortBindings ?? {})) {
      for (const b of (binds as Array<{ HostIp?: string; HostPort?: string }>) ?? []) {
        const p: PublishedPort = { hostPort: Number(b.HostPort), containerPort: Number.parseInt(key, 10) };
        if (b.HostIp) p.hostIp = b.HostIp;
        ports.push(p);
      }
    }
    const status: ContainerStatus = {
      id: c.Id,
      name: c.Name.replace(/^\//, ''),
      image: dockerImageName(c.Config.Image, engine),
      labels: c.Config.Labels ?? {},
      state: dockerState(c.State.Status),
      status: c.State.Status,
      created: Math.floor(new Date(c.Created).getTime() / 1000),
      restartCount: c.RestartCount ?? 0,
      pid: c.State.Pid ?? 0,
      networkMode: c.HostConfig.NetworkMode ?? '',
      ports,
      sysctls: (c.HostConfig as { Sysctls?: Record<string, string> }).Sysctls ?? recordedSysctls(c.Config.Labels),
      env: envObject(c.Config.Env),
      addresses: Object.fromEntries(
        Object.entries(c.NetworkSettings?.Networks ?? {})
          .filter(([, n]) => Boolean(n.IPAddress))
          .map(([name, n]) => [name, n.IPAddress]),
      ),
    };
    const startedAt = toDate(c.State.StartedAt);
    const finishedAt = toDate(c.State.FinishedAt);
    if (startedAt) status.startedAt = startedAt;
    if (finishedAt) status.finishedAt = finishedAt;
    const health = healthOf((c.State as { Health?: InspectHealth }).Health, engine);
    if (health) status.health = health;
    // A restarting container still carries the code it died with; a running one has 0 there.
    if (c.State.Status === 'exited' || c.State.Status === 'dead' || c.State.Status === 'restarting') status.exitCode = c.State.ExitCode;
    const netns = status.state === 'running' ? this.netnsOf(status.pid) : undefined;
    if (netns) status.netns = netns;
    const uid = status.state === 'running' && this.local() ? effectiveUid(status.pid) : undefined;
    status.user = uid === undefined ? { configured: c.Config.User ?? '' } : { uid, configured: c.Config.User ?? '' };
    return status;
  }

  async listensOn(id: string, port: number): Promise<boolean | undefined> {
    if (!this.local()) return undefined;
    const s = await this.containerStatus(id);
    // Every address in the pod's namespace counts, as for `/pause --listeners`.
    return s.state === 'running' ? treeListensOn(s.pid, port) : false;
  }

  /**
   * Readiness polls this every few ms, so the sandbox's pid is inspected once and kept with its
   * network namespace: a pid that no longer has that namespace (the sandbox restarted, the pid was
   * reused) is inspected again.
   */
  async countListeners(sandboxId: string, port: number): Promise<number | undefined> {
    if (!this.local()) return undefined;
    let known = this.sandboxPids.get(sandboxId);
    if (!known || this.netnsOf(known.pid) !== known.netns) {
      this.sandboxPids.delete(sandboxId);
      const s = await this.containerStatus(sandboxId).catch(() => undefined);
      // No namespace link: not running, or not root (the link is only readable with ptrace rights).
      if (s?.state !== 'running' || !s.netns) return undefined;
      known = { pid: s.pid, netns: s.netns };
      this.sandboxPids.set(sandboxId, known);
    }
    const n = countListening(port, known.pid);
    // Read from the namespace we meant only if the pid still has it after the read.
    return n !== undefined && this.netnsOf(known.pid) === known.netns ? n : undefined;
  }

  /** A local socket's pids are this host's; a remote engine's would name unrelated processes here. */
  private local(): boolean {
    return this.endpoint.startsWith('unix://');
  }

  async lastExitCode(id: string): Promise<number | undefined> {
    const s = await this.containerStatus(id);
    if (s.exitCode !== undefined) return s.exitCode;
    if (s.restartCount === 0) return undefined;
    // Running again after a crash: inspect says 0, but the engine's past "die" events carry the
    // code (the engine keeps only its most recent events, so an old one may be gone).
    const until = Math.ceil(Date.now() / 1000) + 1;
    const stream = await this.call(`reading the events of ${id.slice(0, 12)}`, () =>
      this.docker.getEvents({ since: s.created, until, filters: { type: ['container'], container: [id], event: ['die'] } } as Docker.GetEventsOptions),
    );
    let code: number | undefined;
    for await (const line of createInterface({ input: stream as Readable, crlfDelay: Infinity })) {
      try {
        const e = JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } };
        const text = e.Actor?.Attributes?.['exitCode'];
        if (text !== undefined && /^\d+$/.test(text)) code = Number(text);
      } catch {
        // not an event line
      }
    }
    return code;
  }

  // A pid from a remote engine would name some unrelated process of this host, so only a local
  // socket's pids are read; EACCES (not root) just leaves the namespace unknown.
  private netnsOf(pid: number): string | undefined {
    if (pid <= 0 || !this.local()) return undefined;
    try {
      return readlinkSync(`/proc/${pid}/ns/net`);
    } catch {
      return undefined;
    }
  }

  async exec(id: string, cmd: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    return this.call(`running ${cmd[0]} in ${id.slice(0, 12)}`, async () => {
      const exec = await this.docker.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
      const stream = await exec.start({ hijack: true, stdin: false });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const stdout = new PassThrough().on('data', (b: Buffer) => out.push(b));
      const stderr = new PassThrough().on('data', (b: Buffer) => err.push(b));
      this.docker.modem.demuxStream(stream, stdout, stderr);
      // An exec into a container that is being stopped can leave its stream open forever.
      const timedOut = await new Promise<boolean>((resolve, reject) => {
        const timer = setTimeout(() => {
          stream.destroy();
          resolve(true);
        }, EXEC_TIMEOUT_MS);
        const done = () => (clearTimeout(timer), resolve(false));
        stream.on('end', done).on('close', done).on('error', (err: Error) => (clearTimeout(timer), reject(err)));
      });
      if (timedOut) return { exitCode: -1, stdout: '', stderr: `no answer within ${EXEC_TIMEOUT_MS} ms` };
      const { ExitCode: code } = await exec.inspect();
      return { exitCode: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
    });
  }

  async execAttached(id: string, cmd: string[], streams: ExecStreams): Promise<ExecSession> {
    const tty = streams.tty !== undefined;
    const what = `running ${cmd[0]} in ${id.slice(0, 12)}`;
    const exec = await this.call(what, () =>
      this.docker.getContainer(id).exec({ Cmd: cmd, AttachStdin: streams.stdin !== undefined, AttachStdout: true, AttachStderr: true, Tty: tty }),
    );
    // ConsoleSize sizes the terminal before the command starts on engines with API 1.42+ (others
    // ignore it); there, and only there, the resize below is not racing the command's first look.
    const consoleSize = streams.tty ? { ConsoleSize: [streams.tty.rows, streams.tty.columns] } : {};
    const socket = (await this.call(what, () => exec.start({ hijack: true, stdin: streams.stdin !== undefined, Tty: tty, ...consoleSize }))) as NodeJS.ReadWriteStream & Readable;
    // With a TTY the engine sends the terminal's bytes as they are; without one, stdout and stderr
    // come framed on one stream.
    if (tty) socket.on('data', (b: Buffer) => streams.stdout.write(b));
    else this.docker.modem.demuxStream(socket, streams.stdout, streams.stderr);
    // The end of our stdin is a half-close of the socket: the engine then closes the command's
    // stdin, which is how `cat`, `psql -f -` or a migration reading stdin know they are done.
    if (streams.stdin) streams.stdin.pipe(socket as unknown as NodeJS.WritableStream);
    const ended = new Promise<void>((resolve, reject) => {
      socket.on('end', resolve).on('close', resolve).on('error', reject);
    });
    const resize = async (columns: number, rows: number): Promise<void> => {
      // A resize that races the command's exit is no error: there is no terminal left to size.
      if (tty) await exec.resize({ w: columns, h: rows }).catch(() => undefined);
    };
    if (streams.tty) await resize(streams.tty.columns, streams.tty.rows);
    const exited = ended.then(async () => {
      streams.stdin?.unpipe(socket as unknown as NodeJS.WritableStream);
      return this.call(`reading the exit code of ${cmd[0]}`, () => execExitCode(exec));
    });
    return {
      exited,
      resize,
      detach: () => {
        streams.stdin?.unpipe(socket as unknown as NodeJS.WritableStream);
        socket.destroy();
      },
    };
  }

  async logs(id: string, options: LogOptions): Promise<Readable> {
    const container = this.docker.getContainer(id);
    const raw = await this.call(`reading logs of ${id.slice(0, 12)}`, () =>
      container.logs({
        follow: options.follow as true,
        stdout: true,
        stderr: true,
        timestamps: true,
        ...(options.tail === undefined ? {} : { tail: options.tail }),
      }) as unknown as Promise<NodeJS.ReadableStream | Buffer>,
    );
    // Without a TTY the engine multiplexes stdout and stderr in 8-byte framed chunks.
    const out = new PassThrough();
    if (Buffer.isBuffer(raw)) {
      out.end(demuxBuffer(raw));
      return out;
    }
    this.docker.modem.demuxStream(raw, out, out);
    raw.on('end', () => out.end());
    raw.on('close', () => out.end());
    return out;
  }
}

/**
 * The exec's exit code once the engine has noticed the end: Podman may still say Running for a
 * moment after the stream closed.
 */
async function execExitCode(exec: Docker.Exec): Promise<number> {
  const deadline = Date.now() + EXEC_TIMEOUT_MS;
  for (;;) {
    const info = await exec.inspect();
    if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) return info.ExitCode;
    if (Date.now() > deadline) throw new PodError(`the engine reports no exit code for the command ${EXEC_TIMEOUT_MS} ms after its output ended`, ExitCode.failure);
    await sleep(20);
  }
}

/**
 * Podman reports a container whose stop signal was sent but whose process has not exited yet as
 * "stopping"; Docker calls it "running" until the process is gone (then a die event follows).
 */
function dockerState(state: string): ContainerState {
  return (state === 'stopping' ? 'running' : state) as ContainerState;
}

/** Podman answers a taken container name with 500; Docker (and pod logic, e.g. the lock) says 409. */
function asDockerStatus(err: unknown): unknown {
  const e = err as { statusCode?: number };
  if (e?.statusCode === 500 && /name .* is already in use/.test(engineMessage(err))) e.statusCode = 409;
  return err;
}

function recordedSysctls(labels: Record<string, string> | undefined): Record<string, string> {
  try {
    return JSON.parse(labels?.[SYSCTLS_LABEL] ?? '{}') as Record<string, string>;
  } catch {
    return {};
  }
}

/** The engine's framing: 1 byte stream id, 3 zero bytes, 4 bytes big-endian length, payload. */
export function demuxBuffer(buf: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at + 8 <= buf.length) {
    const size = buf.readUInt32BE(at + 4);
    parts.push(buf.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return Buffer.concat(parts);
}

/** The one place a namespace becomes Docker's NetworkMode (undefined: the engine's default network). */
function networkMode(ns: NetworkNamespace | undefined, sandboxId: string): { NetworkMode?: string } {
  if (!ns) return {};
  if (ns.kind === 'pod') return { NetworkMode: `container:${sandboxId}` };
  return { NetworkMode: ns.kind === 'host' ? 'host' : ns.name };
}

/** `docker run`'s process options as Config fields. */
function processConfig(o: ContainerOptions): Record<string, unknown> {
  return {
    ...(o.user !== undefined ? { User: o.user } : {}),
    ...(o.workdir !== undefined ? { WorkingDir: o.workdir } : {}),
    // docker's CLI sends `--entrypoint ""` as [""], which the daemon reads as "no entrypoint".
    ...(o.entrypoint !== undefined ? { Entrypoint: [o.entrypoint] } : {}),
    ...(o.command !== undefined ? { Cmd: o.command } : {}),
    ...(o.health ? { Healthcheck: healthcheck(o.health) } : {}),
    ...(o.stopSignal !== undefined ? { StopSignal: o.stopSignal } : {}),
  };
}

const NS_PER_MS = 1_000_000;

function healthcheck(h: HealthConfig): Record<string, unknown> {
  return {
    ...(h.test ? { Test: h.test } : {}),
    ...(h.intervalMs !== undefined ? { Interval: h.intervalMs * NS_PER_MS } : {}),
    ...(h.timeoutMs !== undefined ? { Timeout: h.timeoutMs * NS_PER_MS } : {}),
    ...(h.startPeriodMs !== undefined ? { StartPeriod: h.startPeriodMs * NS_PER_MS } : {}),
    ...(h.retries !== undefined ? { Retries: h.retries } : {}),
  };
}

/** Mounts and limits as HostConfig fields. */
function limitsConfig(o: ContainerOptions): Record<string, unknown> {
  return {
    ...(o.binds?.length ? { Binds: o.binds } : {}),
    ...(o.mounts?.length
      ? {
          Mounts: o.mounts.map((m) => ({
            Type: m.type,
            Target: m.target,
            ...(m.source !== undefined ? { Source: m.source } : {}),
            ...(m.readOnly ? { ReadOnly: true } : {}),
            ...(m.type === 'tmpfs' && (m.tmpfsSizeBytes !== undefined || m.tmpfsMode !== undefined)
              ? { TmpfsOptions: { ...(m.tmpfsSizeBytes !== undefined ? { SizeBytes: m.tmpfsSizeBytes } : {}), ...(m.tmpfsMode !== undefined ? { Mode: m.tmpfsMode } : {}) } }
              : {}),
          })),
        }
      : {}),
    ...(o.tmpfs && Object.keys(o.tmpfs).length ? { Tmpfs: o.tmpfs } : {}),
    ...(o.memoryBytes !== undefined ? { Memory: o.memoryBytes } : {}),
    ...(o.nanoCpus !== undefined ? { NanoCpus: o.nanoCpus } : {}),
    ...(o.pidsLimit !== undefined ? { PidsLimit: o.pidsLimit } : {}),
    ...(o.readOnly ? { ReadonlyRootfs: true } : {}),
    ...(o.capAdd?.length ? { CapAdd: o.capAdd } : {}),
    ...(o.capDrop?.length ? { CapDrop: o.capDrop } : {}),
  };
}

/** /etc/hosts lines and resolvers: only on a container that owns its namespace (Docker refuses them on a `container:` member). */
function resolverConfig(o: NamespaceOptions | undefined): Record<string, unknown> {
  return {
    ...(o?.extraHosts?.length ? { ExtraHosts: o.extraHosts } : {}),
    ...(o?.dns?.length ? { Dns: o.dns } : {}),
  };
}

/** A network's endpoint; none with container: or host (Podman refuses EndpointsConfig with them). */
function networking(ns: NetworkNamespace | undefined, aliases: string[] | undefined): { NetworkingConfig?: { EndpointsConfig: Record<string, object> } } {
  return ns?.kind === 'network' ? { NetworkingConfig: { EndpointsConfig: { [ns.name]: aliases?.length ? { Aliases: aliases } : {} } } } : {};
}
