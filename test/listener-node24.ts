// Runs test/listener.ts a second time under Node 24, which has the built-in reusePort listen
// option, so that both paths ('builtin' and 'addon') are tested whatever Node runs tap.
// Node 24 strips the types itself; the file prints TAP, which t.spawn nests as subtests.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = fileURLToPath(new URL('..', import.meta.url));
const node24 = process.env.NODE24 || fileURLToPath(new URL('../.cache/node24/bin/node', import.meta.url));
const missing = `no Node 24 at ${node24}: run scripts/get-node24.sh (or set NODE24 to a Node 24 binary)`;

if (!existsSync(node24)) {
  if (process.env.CI === 'true') t.fail(missing);
  else t.plan(0, missing);
} else {
  const version = execFileSync(node24, ['--version'], { encoding: 'utf8' }).trim();
  t.match(version, /^v24\./, `${node24} is Node 24`);
  // Without NODE_OPTIONS: it carries tap's loader hooks for the Node that runs tap.
  const { NODE_OPTIONS: _nodeOptions, ...env } = process.env;
  t.spawn(node24, ['test/listener.ts'], { cwd: root, env }, `test/listener.ts under Node ${version}`);
}
