// Rewrites one `## ` section of a Markdown file (docs/benchmarks.md is shared by several benchmarks),
// appending it when absent. Written whole then renamed, so that another benchmark refreshing its
// own section never reads half a file.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeSection(file, heading, body) {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  const section = `${heading}\n\n${body.trim()}\n`;
  let out;
  if (start < 0) {
    out = `${text.trimEnd()}${text.trim() ? '\n\n' : ''}${section}`;
  } else {
    let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
    if (end < 0) end = lines.length;
    const after = lines.slice(end).join('\n');
    out = `${lines.slice(0, start).join('\n')}${start ? '\n' : ''}${section}${after ? `\n${after}` : ''}`;
  }
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, out.endsWith('\n') ? out : `${out}\n`);
  renameSync(tmp, file);
}
