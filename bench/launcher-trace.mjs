// Where the tool's create time goes: runs the tool's own createPod (dist/, in this process) with
// every engine call of its DockerRuntime timed, then reads when each replica actually logged
// "listening" (docker logs --timestamps) to show how long the readiness poll took to notice.
// Then removePod, timed the same way. Used by `node bench/launcher.mjs --trace`.
//
//   node bench/launcher-trace.mjs NAME HOSTPORT N [DIST_SRC_DIR]     prints a JSON report
// DIST_SRC_DIR: the tool's compiled dist/src/ (default: this checkout's).
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { helpAndExitIfAsked } from './usage.mjs';

helpAndExitIfAsked(import.meta.url);

const bootMs = performance.now(); // process start -> this module runs
const root = process.argv[5] ? new URL(`file://${process.argv[5].replace(/\/?$/, '/')}`) : new URL('../dist/src/', import.meta.url);
const { DockerRuntime } = await import(new URL('runtime/docker.js', root));
// The layout of src/pod/ changed (verbs/, model/): a build from before it is traced as well.
async function load(...paths) {
  for (const p of paths) {
    try {
      return await import(new URL(p, root));
    } catch (err) {
      if (err.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    }
  }
  throw new Error(`none of ${paths.join(', ')} under ${root.pathname}`);
}
const { createPod } = await load('pod/verbs/create.js', 'pod/create.js');
const { removePod } = await load('pod/verbs/remove.js', 'pod/remove.js');
const { parsePortSpecs } = await load('pod/model/spec.js', 'pod/spec.js');
const { packageVersion } = await import(new URL('package-info.js', root));
const loadedMs = performance.now();

const [name, port, n] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const calls = [];
let t0 = 0;
const runtime = new DockerRuntime();
// Every engine call (not the private `call` wrapper they all go through). A method that answers
// without a promise (a private helper such as `local`) is no engine call: it is passed through
// untimed and stays synchronous, as its callers expect.
const methods = Object.getOwnPropertyNames(DockerRuntime.prototype).filter((m) => m !== 'constructor' && m !== 'call' && typeof runtime[m] === 'function');
for (const method of methods) {
  const original = runtime[method].bind(runtime);
  runtime[method] = (...args) => {
    const start = performance.now() - t0;
    const result = original(...args);
    if (!(result instanceof Promise)) return result;
    return result.finally(() => calls.push({ method, start: Math.round(start), end: Math.round(performance.now() - t0) }));
  };
}
const ctx = { runtime, version: packageVersion, progress: () => {}, warn: () => {} };
const spec = { name, ports: parsePortSpecs([`127.0.0.1:${port}:8080`]), replicas: n, image: 'reuseport-pod/example:0.1.0', env: {}, stopTimeout: 10 };

t0 = performance.now();
const wallStart = Date.now();
const result = await createPod(ctx, spec, { waitTimeoutMs: 60_000 });
const createMs = performance.now() - t0;
// When did each replica really start listening? Its "listening on" line, timestamped by dockerd.
const listenedAt = result.replicas.map((r) => {
  const line = execFileSync('docker', ['logs', '--timestamps', r.name], { encoding: 'utf8' }).split('\n').find((l) => / listening on /.test(l));
  return line ? Math.round(Date.parse(line.split(' ')[0]) - wallStart) : undefined;
});
const createCalls = calls.splice(0);

t0 = performance.now();
await removePod(ctx, name, {});
const rmMs = performance.now() - t0;
console.log(JSON.stringify({ bootMs: Math.round(bootMs), loadMs: Math.round(loadedMs - bootMs), createMs: Math.round(createMs), lastListenMs: Math.max(...listenedAt.filter((x) => x !== undefined)), listenedAt, createCalls, rmMs: Math.round(rmMs), rmCalls: calls }));
