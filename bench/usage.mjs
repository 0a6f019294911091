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
