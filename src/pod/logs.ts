// logs: every replica's output, each line prefixed with the replica's name (as Compose does).
// Without -f the lines of all replicas are merged in time order, using the engine's timestamps.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { PodContext } from './context.ts';
import { requirePod } from './observe.ts';

export interface LogsOptions {
  follow: boolean;
  tail?: number;
}

interface Stamped {
  time: string;
  prefix: string;
  text: string;
}

// The engine puts an RFC 3339 timestamp with nanoseconds and a space before every line.
function split(line: string): { time: string; text: string } {
  const sp = line.indexOf(' ');
  return sp > 0 && /^\d{4}-\d\d-\d\dT/.test(line) ? { time: line.slice(0, sp), text: line.slice(sp + 1) } : { time: '', text: line };
}

function lines(stream: Readable, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: stream, crlfDelay: Infinity });
    rl.on('line', onLine);
    rl.on('close', resolve);
  });
}

export async function podLogs(ctx: PodContext, name: string, options: LogsOptions, write: (line: string) => void): Promise<void> {
  const pod = await requirePod(ctx.runtime, name);
  const width = Math.max(0, ...pod.replicas.map((r) => r.container.name.length));
  const streams = await Promise.all(
    pod.replicas.map(async (r) => ({
      prefix: `${r.container.name.padEnd(width)} | `,
      stream: await ctx.runtime.logs(r.container.id, options.tail === undefined ? { follow: options.follow } : { follow: options.follow, tail: options.tail }),
    })),
  );
  if (options.follow) {
    await Promise.all(streams.map(({ prefix, stream }) => lines(stream, (line) => write(prefix + split(line).text))));
    return;
  }
  const all: Stamped[] = [];
  await Promise.all(streams.map(({ prefix, stream }) => lines(stream, (line) => all.push({ prefix, ...split(line) }))));
  // Nanosecond RFC 3339 stamps from one engine sort correctly as strings; the sort is stable.
  all.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  for (const l of all) write(l.prefix + l.text);
}
