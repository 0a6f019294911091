// The docker CLI for tests against a real dockerd: run a command, know whether an engine is there,
// make sure the images the tests need exist, and label + remove everything a test creates.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const version: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
export const nodeMajor = process.versions.node.split('.')[0]!;
export const pauseImage = `reuseport-pod/pause:${version}`;
export const nodeBaseImage = `reuseport-pod/node-base:${nodeMajor}`;
export const exampleImage = `reuseport-pod/example:${version}`;
/** busybox httpd, a server without SO_REUSEPORT (scripts/build-httpd-image.sh). */
export const httpdImage = `reuseport-pod/busybox-httpd:${version}`;
/** The NAT helper of --mode dnat pods (scripts/build-nat-image.sh). */
export const natImage = `reuseport-pod/nat:${version}`;

/** Every object a test creates carries this label (the repo-wide convention). */
export const TEST_LABEL = 'io.reuseport-pod.test=1';

export class DockerError extends Error {
  constructor(
    readonly args: string[],
    readonly code: number | string | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`docker ${args.join(' ')} failed (${code}): ${stderr.trim() || stdout.trim()}`);
  }
}

export interface DockerResult {
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `docker ...args`; resolves with trimmed stdout and the wall time, rejects with DockerError. */
export function dockerRun(args: string[], timeoutMs = 120_000): Promise<DockerResult> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    execFile(
      'docker',
      args,
      { timeout: timeoutMs, maxBuffer: 16 << 20, env: { ...process.env, DOCKER_BUILDKIT: '0' } },
      (err, stdout, stderr) => {
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        if (err) reject(new DockerError(args, (err as NodeJS.ErrnoException).code ?? null, stdout, stderr));
        else resolve({ stdout: stdout.trim(), stderr: stderr.trim(), ms });
      },
    );
  });
}

export async function docker(...args: string[]): Promise<string> {
  return (await dockerRun(args)).stdout;
}

/** null when an engine answers, else why not (in words for a skip message). */
export async function engineUnavailable(): Promise<string | null> {
  try {
    await dockerRun(['version', '--format', '{{.Server.Version}}'], 15_000);
    return null;
  } catch (err) {
    const e = err as DockerError;
    if (e.code === 'ENOENT') return 'the docker CLI is not installed';
    return `no Docker engine answers (${(e.stderr || e.message).trim().split('\n')[0]})`;
  }
}

let engineKind: Promise<'docker' | 'podman'> | undefined;

/** Which engine DOCKER_HOST points at: Podman names itself in the version's components. */
export function engine(): Promise<'docker' | 'podman'> {
  engineKind ??= docker('version', '--format', '{{range .Server.Components}}{{.Name}};{{end}}').then(
    (names) => (/podman/i.test(names) ? 'podman' : 'docker'),
    () => 'docker',
  );
  return engineKind;
}

/** Where the images are built when the engine under test is Podman: dockerd (see setup-podman.sh). */
const imageSource = (): string => process.env['REUSEPORT_POD_IMAGE_SOURCE'] || 'unix:///var/run/docker.sock';

function runScript(script: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('bash', [`${repoRoot}scripts/${script}`], { cwd: repoRoot, timeout: 300_000, env }, (err, stdout, stderr) => {
      if (err) reject(new Error(`scripts/${script} failed: ${stderr || stdout}`));
      else resolve();
    });
  });
}

/**
 * Brings the local images up to date with the checkout by running the same scripts as CI (there is
 * no registry to pull from). They are idempotent and fast when nothing changed (about 0.5-1 s
 * each), and a stale image would test yesterday's code. `example` needs `node-base` first.
 */
export async function ensureImages(...which: ('pause' | 'node-base' | 'example' | 'nat' | 'httpd')[]): Promise<void> {
  if (which.includes('example') && !which.includes('node-base')) which = ['node-base', ...which];
  const scripts = { pause: 'build-pause-image.sh', 'node-base': 'build-node-base.sh', example: 'build-app-image.sh', nat: 'build-nat-image.sh', httpd: 'build-httpd-image.sh' } as const;
  const images = { pause: pauseImage, 'node-base': nodeBaseImage, example: exampleImage, nat: natImage, httpd: httpdImage } as const;
  // Podman: the scripts build in dockerd (the same builder as CI), then the images are copied over.
  const podman = (await engine()) === 'podman';
  const env = podman ? { ...process.env, DOCKER_HOST: imageSource() } : process.env;
  for (const name of ['pause', 'node-base', 'example', 'nat', 'httpd'] as const) {
    if (which.includes(name)) await runScript(scripts[name], env);
  }
  if (podman) await copyImages(imageSource(), which.map((name) => images[name]));
}

/** `docker save | docker load` from the engine at `source` into this one, for images whose ID differs. */
async function copyImages(source: string, images: string[]): Promise<void> {
  const idIn = (host: string | undefined, image: string): Promise<string> =>
    new Promise((resolve) => {
      const env = host ? { ...process.env, DOCKER_HOST: host } : process.env;
      execFile('docker', ['image', 'inspect', '--format', '{{.Id}}', image], { env }, (err, stdout) => resolve(err ? '' : stdout.trim()));
    });
  const stale: string[] = [];
  for (const image of images) {
    const [want, have] = await Promise.all([idIn(source, image), idIn(undefined, image)]);
    if (!want) throw new Error(`${image} is not in the engine at ${source}`);
    if (want !== have) stale.push(image);
  }
  if (stale.length === 0) return;
  await new Promise<void>((resolve, reject) => {
    execFile('bash', ['-o', 'pipefail', '-c', 'DOCKER_HOST="$1" docker save "${@:2}" | docker load -q', 'copy', source, ...stale], { timeout: 300_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`copying ${stale.join(', ')} from ${source} failed: ${stderr}`));
      else resolve();
    });
  });
}

/** Anything with tap's teardown. */
interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

/**
 * Containers made through this object carry TEST_LABEL plus a label unique to it, and are all
 * removed (with `docker rm -f`, found by that label, so that even a container whose `docker run`
 * failed half-way goes) in t.teardown, whether the test passed or not. Another checkout may run its
 * tests on the same engine: the unique label keeps one run's teardown away from another's containers.
 */
export class TestContainers {
  readonly runLabel = `io.reuseport-pod.test.run=${randomBytes(6).toString('hex')}`;

  constructor(t: Teardown) {
    t.teardown(() => this.removeAll());
  }

  /** `docker run -d --label … args…`; resolves with the container ID. */
  async run(...args: string[]): Promise<string> {
    return docker('run', '-d', '--label', TEST_LABEL, '--label', this.runLabel, ...args);
  }

  async ids(): Promise<string[]> {
    const out = await docker('ps', '-aq', '--no-trunc', '--filter', `label=${this.runLabel}`);
    return out ? out.split('\n') : [];
  }

  async removeAll(): Promise<void> {
    const ids = await this.ids();
    // One `docker rm -f` for the lot: a sandbox removed together with its replicas strands nothing.
    if (ids.length > 0) await docker('rm', '-f', '-v', ...ids);
  }
}

export async function inspect<T = unknown>(id: string, format: string): Promise<T> {
  const answer = JSON.parse(await docker('inspect', '--format', `{{json ${format}}}`, id)) as T;
  if ((format === '.HostConfig.Sysctls' || format === '.HostConfig.CapDrop') && (await engine()) === 'podman') {
    return (await podmanRuntimeView(id, format, answer)) as T;
  }
  return answer;
}

/**
 * Podman's Docker-compatible inspect never reports sysctls, and spells `--cap-drop ALL` as the list
 * of capabilities it dropped. What Podman configured is in the OCI config it handed the runtime
 * (runc): the test reads that, on this host, instead of trusting either spelling.
 */
async function podmanRuntimeView(id: string, format: string, answer: unknown): Promise<unknown> {
  const libpod = JSON.parse(await podmanApi(`/v4.0.0/libpod/containers/${encodeURIComponent(id)}/json`)) as { OCIConfigPath?: string };
  if (!libpod.OCIConfigPath) throw new Error(`Podman reports no OCIConfigPath for ${id}`);
  const oci = JSON.parse(readFileSync(libpod.OCIConfigPath, 'utf8')) as { linux?: { sysctl?: Record<string, string> }; process?: { capabilities?: Record<string, string[]> } };
  if (format === '.HostConfig.Sysctls') return oci.linux?.sysctl ?? null;
  const left = Object.values(oci.process?.capabilities ?? {}).flat();
  return left.length === 0 ? ['ALL'] : answer;
}

/** GET on Podman's own (libpod) API, through the unix socket DOCKER_HOST names. */
function podmanApi(path: string): Promise<string> {
  const socketPath = (process.env['DOCKER_HOST'] ?? '').replace(/^unix:\/\//, '');
  return new Promise((resolve, reject) => {
    request({ socketPath, path, headers: { host: 'podman' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${path}: ${res.statusCode} ${body}`))));
    })
      .on('error', reject)
      .end();
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a value satisfying ok, or throws with the last value after timeoutMs. */
export async function waitFor<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  for (;;) {
    try {
      last = await fn();
      if (ok(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${lastErr ? String(lastErr) : JSON.stringify(last)}`);
    }
    await sleep(50);
  }
}

export interface NetworkFacts {
  /** The host-side bridge device: `br-<id>` on Docker, `podmanN` on Podman. */
  bridge: string;
  subnets: string[];
}

/**
 * A network's bridge and subnets. On Podman through its own API: Podman 4.3's Docker-compatible
 * network inspect, asked while containers are attached, leaves that network's isolation rules on
 * the host after it is removed (the tool reads Podman's networks the same way, see docker.ts).
 */
export async function networkFacts(name: string): Promise<NetworkFacts> {
  if ((await engine()) !== 'podman') {
    const net = JSON.parse(await docker('network', 'inspect', name, '--format', '{{json .}}')) as { Id: string; IPAM: { Config: Array<{ Subnet: string }> } };
    return { bridge: `br-${net.Id.slice(0, 12)}`, subnets: net.IPAM.Config.map((c) => c.Subnet) };
  }
  const socket = (process.env['DOCKER_HOST'] ?? '').replace(/^unix:\/\//, '');
  const body = await new Promise<string>((resolve, reject) => {
    const req = request({ socketPath: socket, path: `/v4.0.0/libpod/networks/${encodeURIComponent(name)}/json` }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`inspecting network ${name} on Podman: ${res.statusCode} ${text}`))));
    });
    req.on('error', reject);
    req.end();
  });
  const net = JSON.parse(body) as { network_interface: string; subnets?: Array<{ subnet: string }> };
  return { bridge: net.network_interface, subnets: (net.subnets ?? []).map((s) => s.subnet) };
}

/**
 * Every file under /app in `image` (paths relative to /app, sorted), listed by the image's own node:
 * what `reuseport-pod build` put into the example image.
 */
export async function appFiles(image: string): Promise<string[]> {
  const walk =
    "const fs=require('fs'),path=require('path');const out=[];" +
    "(function w(d){for(const e of fs.readdirSync(d,{withFileTypes:true})){const p=path.join(d,e.name);e.isDirectory()?w(p):out.push(path.relative('/app',p))}})('/app');" +
    'console.log(JSON.stringify(out.sort()))';
  return JSON.parse(await docker('run', '--rm', '--network', 'none', '--entrypoint', 'node', image, '-e', walk)) as string[];
}

/** Files of the example image's /app (or of its build context) that it is not meant to hold (empty: all is well). */
export function unexpectedAppFiles(files: string[], arch: string = process.arch): string[] {
  const allowed = [
    /^package\.json$/,
    /^dist\/examples\/[\w-]+\.js$/,
    /^node_modules\/node-gyp-build\/[\w.-]+$/,
    /^node_modules\/@reuseport-pod\/listener\/(package\.json|binding\.gyp|dist\/\w+\.js)$/,
    new RegExp(`^node_modules/@reuseport-pod/listener/prebuilds/linux-${arch}/@reuseport-pod\\+listener\\.glibc\\.node$`),
  ];
  return files.filter((f) => !allowed.some((re) => re.test(f)));
}
