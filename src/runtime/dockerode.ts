// dockerode, loaded without what a unix-socket user never touches.
//
// dockerode's docker.js requires ./session (BuildKit sessions: @grpc/grpc-js, @grpc/proto-loader,
// protobufjs) and docker-modem's modem.js requires ./ssh (ssh2) at the top, though only an image
// build with `version: "2"` uses the one and only an ssh:// DOCKER_HOST the other. Loading them
// costs about two thirds of dockerode's load time (measured here: 75 ms of session, 35 ms of
// ssh2, of 130-190 ms). Both files export one function and are only called, never inspected, so
// each is put into Node's CommonJS module cache as a function that loads the real file the first
// time it is called and forwards to it. Nothing in node_modules changes; a layout this does not
// recognise (another dockerode or docker-modem) is loaded the ordinary, eager way.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type Docker from 'dockerode';

type Fn = (this: unknown, ...args: unknown[]) => unknown;
type ModuleRecord = { id: string; filename: string; loaded: boolean; exports: unknown; paths: string[]; children: unknown[] };

const require = createRequire(import.meta.url);

/** The files deferred, with the line that shows the file exports exactly one function. */
function deferrable(dockerodeMain: string): Array<{ file: string; exports: RegExp }> {
  const dockerode = dirname(dockerodeMain);
  const modem = dirname(createRequire(dockerodeMain).resolve('docker-modem'));
  return [
    { file: join(dockerode, 'session.js'), exports: /^module\.exports\s*=\s*withSession;/m },
    { file: join(modem, 'ssh.js'), exports: /^module\.exports\s*=\s*function\b/m },
  ];
}

/** Makes `require(file)` answer a function that loads `file` itself on its first call. */
function defer(file: string): void {
  if (require.cache[file]) return; // already loaded for real
  let real: Fn | undefined;
  const standIn = function (this: unknown, ...args: unknown[]): unknown {
    if (!real) {
      // The stand-in leaves the cache so that require() reads the file this time.
      if (require.cache[file]?.exports === standIn) delete require.cache[file];
      real = require(file) as Fn;
    }
    return real.apply(this, args);
  };
  const record: ModuleRecord = { id: file, filename: file, loaded: true, exports: standIn, paths: [], children: [] };
  require.cache[file] = record as unknown as NodeJS.Module;
}

let loaded: typeof Docker | undefined;

/** The dockerode constructor; the first call loads it (about 40 ms), BuildKit sessions and ssh2 deferred. */
export function loadDockerode(): typeof Docker {
  if (loaded) return loaded;
  const main = require.resolve('dockerode');
  for (const { file, exports } of deferrable(main)) {
    try {
      if (existsSync(file) && exports.test(readFileSync(file, 'utf8'))) defer(file);
    } catch {
      // unreadable: loaded eagerly by dockerode, as without this
    }
  }
  loaded = require(main) as typeof Docker;
  return loaded;
}
