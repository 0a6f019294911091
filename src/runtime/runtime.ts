// The engine interface, in the words of the Kubernetes CRI RuntimeService (RunPodSandbox,
// CreateContainer, ...), so that pod logic stays engine-free and a second engine is one file.
import type { Readable, Writable } from 'node:stream';

export interface PublishedPort {
  hostIp?: string;
  hostPort: number;
  containerPort: number;
}

/**
 * Where a container's network namespace comes from: the pod sandbox's (replicas only), one of its
 * own on a network made by createNetwork, or the host's own. docker.ts turns it into NetworkMode.
 */
export type NetworkNamespace = { kind: 'pod' } | { kind: 'network'; name: string } | { kind: 'host' };

/** A `--mount`, as HostConfig.Mounts takes it. */
export interface MountSpec {
  type: 'bind' | 'volume' | 'tmpfs';
  /** A bind's host path (absolute) or a volume's name; none: an anonymous volume, or a tmpfs. */
  source?: string;
  target: string;
  readOnly?: boolean;
  tmpfsSizeBytes?: number;
  tmpfsMode?: number;
}

/** A container's health check (Config.Healthcheck); test ['NONE'] disables the image's. Durations in ms. */
export interface HealthConfig {
  /** ['CMD-SHELL', cmd], ['CMD', ...argv] or ['NONE']; absent: the image's test, with these timings. */
  test?: string[];
  intervalMs?: number;
  timeoutMs?: number;
  retries?: number;
  startPeriodMs?: number;
}

/** What a network namespace carries besides its interfaces: joined networks, /etc/hosts lines, resolvers. */
export interface NamespaceOptions {
  /** Networks joined besides the one `namespace` names (connected before the container starts). */
  networks?: string[];
  /** Names the container answers to on those networks and on the one `namespace` names (network-scoped DNS aliases). */
  aliases?: string[];
  /** `HOST:IP` lines for /etc/hosts. */
  extraHosts?: string[];
  dns?: string[];
}

/** `docker run`'s options for the process a container runs and the limits it runs under. */
export interface ContainerOptions {
  user?: string;
  workdir?: string;
  /** One string, as `docker run --entrypoint` takes it; '' clears the image's. */
  entrypoint?: string;
  command?: string[];
  /** `-v` specs, as HostConfig.Binds takes them. */
  binds?: string[];
  mounts?: MountSpec[];
  tmpfs?: Record<string, string>;
  memoryBytes?: number;
  nanoCpus?: number;
  pidsLimit?: number;
  readOnly?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  health?: HealthConfig;
  /** Config.StopSignal: what `stop` sends first. */
  stopSignal?: string;
}

export interface SandboxConfig {
  name: string;
  image: string;
  labels: Record<string, string>;
  ports: PublishedPort[];
  /** Namespaced sysctls for the pod's network namespace (set on the sandbox only). */
  sysctls: Record<string, string>;
  /** Optional: a namespace on this network, or the host's, instead of one on the engine's default network. */
  namespace?: Exclude<NetworkNamespace, { kind: 'pod' }>;
  /** Optional: more networks, /etc/hosts lines and resolvers for the namespace it owns. */
  namespaceOptions?: NamespaceOptions;
}

export interface ContainerConfig {
  name: string;
  image: string;
  labels: Record<string, string>;
  env: Record<string, string>;
  /** Seconds between SIGTERM and SIGKILL on stop. */
  stopTimeout: number;
  /** Default: the sandbox's namespace. A network's is set only on engines that have createNetwork. */
  namespace?: NetworkNamespace;
  /** Only with a namespace of its own (a `container:` member takes its sandbox's): networks, hosts, resolvers. */
  namespaceOptions?: NamespaceOptions;
  options?: ContainerOptions;
}

/** A short-lived container in a sandbox's network namespace: runs to completion, then is removed. */
export interface HelperConfig {
  name: string;
  image: string;
  labels: Record<string, string>;
  cmd: string[];
  env: Record<string, string>;
  /** The only capabilities it gets (every other one is dropped), e.g. ['NET_ADMIN']. */
  capAdd: string[];
  timeoutMs: number;
}

export type ContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerSummary {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  state: ContainerState;
  /** The engine's own words, e.g. "Up 3 minutes". */
  status: string;
  /** Unix seconds. */
  created: number;
}

export interface ContainerStatus extends ContainerSummary {
  restartCount: number;
  startedAt?: Date;
  finishedAt?: Date;
  /** While exited, dead or restarting (between a crash and the restart policy's next start). */
  exitCode?: number;
  /** The container's main process as the engine's host sees it (0 when not running). */
  pid: number;
  networkMode: string;
  /**
   * The network namespace the main process is in (`net:[4026532...]`), when the engine runs on this
   * host and its processes are readable here (root); absent otherwise.
   */
  netns?: string;
  ports: PublishedPort[];
  sysctls: Record<string, string>;
  env: Record<string, string>;
  /** Optional: the container's IPv4 address on each network it is attached to, by network name. */
  addresses?: Record<string, string>;
  /**
   * Who the main process runs as. `uid`: its effective uid as this host's kernel sees it (the engine
   * runs here, the process runs and /proc is readable); `configured`: the user the engine starts it
   * as (the image's USER unless the container overrides it; '' is the image default, root).
   */
  user?: { uid?: number; configured?: string };
  /** Present when the container has a health check (its own or its image's): what the engine last concluded. */
  health?: {
    status: 'starting' | 'healthy' | 'unhealthy';
    failingStreak: number;
    /** The most recent check's output (trimmed, its last 2000 characters) and exit code, once one has run. */
    lastOutput?: string;
    lastExitCode?: number;
  };
}

export interface EngineInfo {
  engine: string;
  version: string;
  apiVersion: string;
  endpoint: string;
  /** The machine the engine runs containers on, as the engine names it (x86_64, amd64, aarch64, arm64, ...); absent when there are no images. */
  arch?: string;
}

export interface LogOptions {
  follow: boolean;
  tail?: number;
}

export interface LogLine {
  time: Date;
  stream: 'stdout' | 'stderr';
  text: string;
}

export interface BuildOptions {
  /** Folder the listed files are taken from. */
  context: string;
  files: string[];
  dockerfile: string;
  tag: string;
  buildArgs?: Record<string, string>;
  labels?: Record<string, string>;
  onProgress?: (line: string) => void;
}

export interface Runtime {
  readonly endpoint: string;
  info(): Promise<EngineInfo>;

  imageExists(ref: string): Promise<boolean>;
  /** Pull an image; rejects with a PodError saying why (no registry, no such image). */
  pullImage(ref: string, onProgress?: (line: string) => void): Promise<void>;
  buildImage(options: BuildOptions): Promise<void>;

  /**
   * Creates and starts the sandbox: the container that owns the pod's network namespace. All or
   * nothing, unless `whileStarting` is given: it is called once with the sandbox's id as soon as
   * the sandbox exists and runs while it starts (a replica can be created, not started, in the
   * namespace of a sandbox that does not run yet); this resolves when both are done. Then a
   * sandbox that fails to start is left in place, because what `whileStarting` made depends on it
   * and must go first (Podman refuses to remove it before): removing both is the caller's.
   */
  runPodSandbox(config: SandboxConfig, whileStarting?: (id: string) => Promise<void>): Promise<string>;
  stopPodSandbox(id: string, timeoutS: number): Promise<void>;
  removePodSandbox(id: string): Promise<void>;

  /** Creates a container that joins the sandbox's network namespace. */
  createContainer(sandboxId: string, config: ContainerConfig): Promise<string>;
  startContainer(id: string): Promise<void>;
  stopContainer(id: string, timeoutS: number): Promise<void>;
  restartContainer(id: string, timeoutS: number): Promise<void>;
  removeContainer(id: string): Promise<void>;

  /**
   * Creates a container that is never started: a record that lives in the engine (labels only,
   * no network). Rejects with a PodError whose cause has statusCode 409 when the name is taken.
   */
  createMarker(config: { name: string; image: string; labels: Record<string, string> }): Promise<string>;

  /** Containers (sandboxes included) carrying every one of these labels (value '' = any value). */
  listContainers(labels: Record<string, string>): Promise<ContainerSummary[]>;
  containerStatus(id: string): Promise<ContainerStatus>;

  /** Runs a command in a running container; resolves with its exit code and output. */
  exec(id: string, cmd: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /**
   * CRI's streaming Exec, next to exec (its ExecSync): runs a command in a running container with
   * the caller's streams attached (docker exec [-i] [-t]). Resolves once the command runs.
   */
  execAttached(id: string, cmd: string[], streams: ExecStreams): Promise<ExecSession>;
  logs(id: string, options: LogOptions): Promise<Readable>;

  /**
   * A runtime made of several (`ls` over the engine and local processes): their pods are observed
   * one runtime at a time, so that two pods of the same name in different runtimes stay two pods.
   */
  parts?(): Runtime[];

  /**
   * Present on runtimes whose pods share the host's network namespace (local processes), which
   * cannot take sysctls per pod: the sandbox's sysctls the host lacks, with the host's value
   * (undefined: this kernel has no such sysctl). runPodSandbox leaves the host's values alone.
   */
  unmetSysctls?(sysctls: Record<string, string>): Record<string, string | undefined>;

  /**
   * Container events (start, die, destroy, ...) of containers carrying these labels, as they happen.
   * Aborting `signal` ends the iteration and lets go of the engine's stream (a follower stops here).
   */
  events(labels: Record<string, string>, signal?: AbortSignal): Promise<AsyncIterable<EngineEvent>>;

  /**
   * Optional: the exit code of the container's last exit, also once the restart policy has started
   * it again (an engine's inspect then says 0); undefined when the engine no longer knows.
   */
  lastExitCode?(id: string): Promise<number | undefined>;

  /**
   * Optional: whether the container's processes hold a LISTEN socket on `port` that serves the pod
   * (in its network namespace); undefined when this runtime cannot see them (a remote engine, no
   * permission, not running).
   */
  listensOn?(id: string, port: number): Promise<boolean | undefined>;

  /**
   * Optional: the LISTEN sockets on `port` in the sandbox's network namespace, counted as its
   * `/pause --listeners PORT` counts them but read from this host's /proc, without an exec (which
   * costs 60-100 ms); undefined when this runtime cannot read them (a remote engine, not root, the
   * sandbox not running): then readiness execs the pause program.
   */
  countListeners?(sandboxId: string, port: number): Promise<number | undefined>;

  // Optional members: what a pod with its own network per replica (create --mode dnat) needs.
  // An engine without them runs only the default (SO_REUSEPORT) pods.

  /** Creates a bridge network with these labels; resolves with its id. 409 (in the cause) when the name is taken. */
  createNetwork?(name: string, labels: Record<string, string>): Promise<string>;
  /** Removes a network; one that is gone already is not an error. */
  removeNetwork?(name: string): Promise<void>;
  /** Networks carrying every one of these labels (value '' = any value), by name. */
  listNetworks?(labels: Record<string, string>): Promise<NetworkSummary[]>;
  /** Whether a network of this name (or id) exists on the engine. */
  networkExists?(name: string): Promise<boolean>;
  /** The network's IPv4 subnet (CIDR, e.g. 172.20.0.0/16); undefined when it is gone or has none. */
  networkSubnet?(name: string): Promise<string | undefined>;
  // Optional members: named volumes with labels (`up` makes a Compose project's, labelled as Compose labels them).

  /** Creates a named volume with these labels (local driver); resolves with its name. */
  createVolume?(name: string, labels: Record<string, string>): Promise<string>;
  /** Whether a volume of this name exists on the engine. */
  volumeExists?(name: string): Promise<boolean>;
  /** Volumes carrying every one of these labels, by name. */
  listVolumes?(labels: Record<string, string>): Promise<NetworkSummary[]>;
  /** Removes a volume; one that is gone already is not an error, one still in use is refused (409 in the cause). */
  removeVolume?(name: string): Promise<void>;
  /** Runs a helper container in the sandbox's network namespace to completion; always removes it. */
  runHelper?(sandboxId: string, config: HelperConfig): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

export interface ExecStreams {
  /** Piped to the command's stdin (docker exec -i); without it the command's stdin is closed. */
  stdin?: Readable;
  stdout: Writable;
  /** Unused with a TTY: a terminal has one output stream, which goes to stdout. */
  stderr: Writable;
  /** A TTY for the command (docker exec -t), of this size. */
  tty?: { columns: number; rows: number };
}

export interface ExecSession {
  /** Resolves with the command's exit code once it has ended and its output is written. */
  exited: Promise<number>;
  /** Tells the command's TTY its new size (no-op without one). */
  resize(columns: number, rows: number): Promise<void>;
  /** Lets go of the command's streams; the command itself keeps running, as after docker exec is killed. */
  detach(): void;
}

export interface NetworkSummary {
  name: string;
  labels: Record<string, string>;
}

export interface EngineEvent {
  action: string;
  id: string;
  name: string;
  labels: Record<string, string>;
}
