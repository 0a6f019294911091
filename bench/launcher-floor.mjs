// Method (c) of bench/launcher.mjs, the engine's floor: bare dockerode, no checks, the sandbox
// created+started, then every replica created+started at once, then `/pause --listeners 8080`
// exec'd in the sandbox every 20 ms until it counts N. Same container options as the tool, so
// that the engine does the same work.
//
//   node bench/launcher-floor.mjs create NAME HOSTPORT N [--http] [--overlap]   prints {"seconds", "loadSeconds"}
//   node bench/launcher-floor.mjs rm NAME N [--http]      replicas removed (force) in parallel, then the sandbox
//
// "seconds" is the time after the client is loaded; "loadSeconds" is process start to loaded.
// Two variants measure what the fixes proposed for the tool would buy (methods (d) and (e)):
//   --http     no dockerode: the Engine API over its unix socket with node:http (what the CLI would
//              load instead of dockerode + gRPC + protobufjs + ssh2)
//   --overlap  the replicas are CREATED while the sandbox starts (NetworkMode container:<id> only
//              needs the sandbox to exist at create time, to run at start time), then started
import { request } from 'node:http';
import { PassThrough } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { helpAndExitIfAsked } from './usage.mjs';

helpAndExitIfAsked(import.meta.url);

const argv = process.argv.slice(2);
const useHttp = argv.includes('--http');
const overlap = argv.includes('--overlap');
const [cmd, name, ...rest] = argv.filter((a) => !a.startsWith('--'));
const sandboxImage = process.env.SANDBOX_IMAGE ?? 'reuseport-pod/pause:0.1.0';
const appImage = process.env.APP_IMAGE ?? 'reuseport-pod/example:0.1.0';
const RESTART = { Name: 'unless-stopped', MaximumRetryCount: 0 };

/** The few Engine API calls this needs, either through dockerode or over node:http. */
async function client() {
  if (useHttp) {
    const socketPath = (process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '');
    const call = (method, path, body) =>
      new Promise((resolve, reject) => {
        const data = body === undefined ? undefined : JSON.stringify(body);
        const req = request({ socketPath, method, path: `/v1.41${path}`, headers: data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {} }, (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c)).on('error', reject);
          res.on('end', () => {
            const buf = Buffer.concat(chunks);
            if (res.statusCode >= 400 && !(method === 'DELETE' && res.statusCode === 404)) reject(new Error(`${method} ${path}: ${res.statusCode} ${buf}`));
            else resolve(buf);
          });
        });
        req.on('error', reject);
        req.end(data);
      });
    const json = async (...a) => JSON.parse((await call(...a)).toString() || '{}');
    return {
      create: async (config) => (await json('POST', `/containers/create?name=${encodeURIComponent(config.name)}`, config)).Id,
      start: (id) => call('POST', `/containers/${id}/start`),
      remove: (id) => call('DELETE', `/containers/${id}?force=true`),
      async listeners(id) {
        const { Id } = await json('POST', `/containers/${id}/exec`, { Cmd: ['/pause', '--listeners', '8080'], AttachStdout: true, AttachStderr: true });
        const buf = await call('POST', `/exec/${Id}/start`, { Detach: false, Tty: false });
        let out = '';
        for (let at = 0; at + 8 <= buf.length; at += 8 + buf.readUInt32BE(at + 4)) {
          if (buf[at] === 1) out += buf.subarray(at + 8, at + 8 + buf.readUInt32BE(at + 4)).toString();
        }
        return Number.parseInt(out, 10) || 0;
      },
    };
  }
  const { default: Docker } = await import('dockerode');
  const docker = new Docker();
  return {
    create: async ({ name: n, ...config }) => (await docker.createContainer({ name: n, ...config })).id,
    start: (id) => docker.getContainer(id).start(),
    remove: (id) =>
      docker
        .getContainer(id)
        .remove({ force: true })
        .catch((e) => {
          if (e.statusCode !== 404) throw e;
        }),
    async listeners(id) {
      const exec = await docker.getContainer(id).exec({ Cmd: ['/pause', '--listeners', '8080'], AttachStdout: true, AttachStderr: true });
      const stream = await exec.start({ hijack: true, stdin: false });
      const out = [];
      const stdout = new PassThrough().on('data', (b) => out.push(b));
      docker.modem.demuxStream(stream, stdout, new PassThrough().resume());
      await new Promise((resolve, reject) => stream.on('end', resolve).on('close', resolve).on('error', reject));
      return Number.parseInt(Buffer.concat(out).toString(), 10) || 0;
    },
  };
}

const engine = await client();
const loaded = performance.now();

if (cmd === 'create') {
  const [port, n] = [Number(rest[0]), Number(rest[1])];
  const sandboxId = await engine.create({
    name: `${name}-sandbox`,
    Image: sandboxImage,
    Labels: { 'io.reuseport-pod.bench': 'launcher' },
    ExposedPorts: { '8080/tcp': {} },
    HostConfig: {
      PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] },
      Sysctls: { 'net.ipv4.tcp_migrate_req': '1' },
      CapDrop: ['ALL'],
      ReadonlyRootfs: true,
      SecurityOpt: ['no-new-privileges'],
      RestartPolicy: RESTART,
    },
  });
  const createReplica = (i) =>
    engine.create({
      name: `${name}-${i + 1}`,
      Image: appImage,
      Labels: { 'io.reuseport-pod.bench': 'launcher' },
      Env: [`INSTANCE=${name}-${i + 1}`, 'PORT=8080'],
      StopTimeout: 10,
      HostConfig: { NetworkMode: `container:${sandboxId}`, RestartPolicy: RESTART, SecurityOpt: ['no-new-privileges'] },
    });
  const all = Array.from({ length: n }, (_, i) => i);
  if (overlap) {
    const [, ids] = await Promise.all([engine.start(sandboxId), Promise.all(all.map(createReplica))]);
    await Promise.all(ids.map((id) => engine.start(id)));
  } else {
    await engine.start(sandboxId);
    await Promise.all(all.map(async (i) => engine.start(await createReplica(i))));
  }
  const deadline = Date.now() + 60_000;
  while ((await engine.listeners(sandboxId)) < n) {
    if (Date.now() > deadline) throw new Error(`launcher-floor: fewer than ${n} listeners after 60 s`);
    await delay(20);
  }
  console.log(JSON.stringify({ seconds: (performance.now() - loaded) / 1000, loadSeconds: loaded / 1000 }));
} else if (cmd === 'rm') {
  const n = Number(rest[0]);
  await Promise.all(Array.from({ length: n }, (_, i) => engine.remove(`${name}-${i + 1}`)));
  await engine.remove(`${name}-sandbox`);
  console.log(JSON.stringify({ seconds: (performance.now() - loaded) / 1000, loadSeconds: loaded / 1000 }));
} else {
  console.error('usage: node bench/launcher-floor.mjs create NAME HOSTPORT N [--http] [--overlap] | rm NAME N [--http]');
  process.exit(2);
}
