// `--help` / `-h` for every benchmark: print the file's opening comment (its usage and method) and
// exit before anything is started, so that asking how to run a benchmark never runs one.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function helpAndExitIfAsked(moduleUrl, argv = process.argv.slice(2)) {
  if (!argv.includes('--help') && !argv.includes('-h')) return;
  const lines = readFileSync(fileURLToPath(moduleUrl), 'utf8').split('\n');
  const header = [];
  for (const line of lines) {
    if (!line.startsWith('//')) break;
    header.push(line.replace(/^\/\/ ?/, ''));
  }
  console.log(header.join('\n'));
  process.exit(0);
}

/** `--name value` or `--name=value` from the command line, else `fallback`. */
export function flag(name, fallback, argv = process.argv.slice(2)) {
  const eq = argv.find((a) => a.startsWith(`--${name}=`));
  if (eq) return eq.slice(name.length + 3);
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
}
