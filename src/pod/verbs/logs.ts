// logs: every replica's output, each line prefixed with the replica's name (as Compose does).
// Without -f the lines of all replicas are merged in time order, using the engine's timestamps.
// With -f it follows the pod, not the containers it found at the start: the engine's events bring
// in every replica that starts later (scale, rollout, repair), a replica's stream ends when it
// stops (replaced ones leave after their last lines), and the command ends when the pod is gone
// or on Ctrl-C. (Podman's stream of a container removed right after it stopped may end before
// its last lines, as Podman's own `logs -f` does; nothing can read them after the removal.)
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { PodContext } from '../context.ts';
import { ExitCode, PodError } from '../../errors.ts';
import { LABEL } from '../model/names.ts';
import { observePod, requirePod } from '../state/observe.ts';

export interface LogsOptions {
  follow: boolean;
  tail?: number;
}

interface Stamped {
  time: string;
  prefix: string;
  text: string;
}

/** After the pod is gone, how long the streams of its removed containers get to deliver their last lines. */
const DRAIN_MS = 5_000;

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
    // A stream torn down (Ctrl-C) ends without 'end': the reader is closed by hand.
    stream.once('close', () => rl.close());
  });
}

export async function podLogs(ctx: PodContext, name: string, options: LogsOptions, write: (line: string) => void): Promise<void> {
  if (options.follow) return followPod(ctx, name, options.tail, write);
  const pod = await requirePod(ctx.runtime, name);
  const width = Math.max(0, ...pod.replicas.map((r) => r.container.name.length));
  const streams = await Promise.all(
    pod.replicas.map(async (r) => ({
      prefix: `${r.container.name.padEnd(width)} | `,
      stream: await ctx.runtime.logs(r.container.id, options.tail === undefined ? { follow: false } : { follow: false, tail: options.tail }),
    })),
  );
  const all: Stamped[] = [];
  await Promise.all(streams.map(({ prefix, stream }) => lines(stream, (line) => all.push({ prefix, ...split(line) }))));
  // Nanosecond RFC 3339 stamps from one engine sort correctly as strings; the sort is stable.
  all.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  for (const l of all) write(l.prefix + l.text);
}

interface Followed {
  stream?: Readable;
  /** Resolves when the stream has ended and its lines are written. */
  done: Promise<void>;
  /** The replica started again while its old stream was still open: read it anew once that ends. */
  again: boolean;
}

/** Where a container's shown lines end: the last one's stamp, and how many shown lines carry that stamp. */
interface Cursor {
  /** One engine's stamps have a fixed width: as strings they compare as times do. */
  at: string;
  n: number;
}

async function followPod(ctx: PodContext, name: string, tail: number | undefined, write: (line: string) => void): Promise<void> {
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  if (ctx.signal?.aborted) return;
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  const followed = new Map<string, Followed>();
  // A container's log may be read more than once: an engine's stream ends when the container
  // stops, and the one read after it started again begins at the first line. The cursor makes
  // each line appear once. Stamps alone cannot: Podman's are whole seconds and the process
  // runtime's milliseconds, so several lines share one.
  const cursors = new Map<string, Cursor>();
  let width = 0;
  let ended = false;

  /** One read of a container's log: shows each line no read has shown yet. */
  const reader = (id: string, replica: string): ((line: string) => void) => {
    let group: Cursor | undefined; // this read's position: the stamp it is at, and the how-many-th line of it
    return (line) => {
      const { time: at, text } = split(line);
      if (at !== '') {
        group = group && group.at === at ? { at, n: group.n + 1 } : { at, n: 1 };
        const cursor = cursors.get(id);
        if (cursor && (at < cursor.at || (at === cursor.at && group.n <= cursor.n))) return;
        cursors.set(id, group);
      }
      write(`${replica.padEnd(width)} | ${text}`);
    };
  };

  const attach = async (id: string, replica: string, lastLines?: number): Promise<void> => {
    const known = followed.get(id);
    if (known) {
      known.again = true;
      return;
    }
    const entry: Followed = { done: Promise.resolve(), again: false };
    followed.set(id, entry);
    width = Math.max(width, replica.length);
    let stream: Readable;
    try {
      stream = await ctx.runtime.logs(id, lastLines === undefined ? { follow: true } : { follow: true, tail: lastLines });
    } catch (err) {
      followed.delete(id);
      // A replica being removed (scale down, rollout) refuses to be read, in each engine's words:
      // only one that still runs is worth a warning.
      const runs = await ctx.runtime.containerStatus(id).then((s) => s.state === 'running' || s.state === 'restarting', () => false);
      if (runs && !stop.signal.aborted) ctx.warn(`cannot read the logs of ${replica}: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (stop.signal.aborted) {
      stream.destroy();
      return;
    }
    entry.stream = stream;
    entry.done = lines(stream, reader(id, replica)).then(() => {
      followed.delete(id);
      if (entry.again && !ended && !stop.signal.aborted) return attach(id, replica);
    });
  };

  try {
    // Subscribed before the pod is read: a replica that starts in between is in one or the other.
    const events = await ctx.runtime.events({ [LABEL.pod]: name }, stop.signal);
    const pod = await requirePod(ctx.runtime, name);
    for (const r of pod.replicas) width = Math.max(width, r.container.name.length);
    await Promise.all(pod.replicas.map((r) => attach(r.container.id, r.container.name, tail)));
    for await (const e of events) {
      const role = e.labels[LABEL.role];
      if (role === 'replica' && (e.action === 'start' || e.action === 'restart')) {
        // A replica new to this follower shows everything it wrote; --tail was for the ones found at the start.
        await attach(e.id, e.name || e.id.slice(0, 12));
      } else if (e.action === 'destroy' && role !== 'nat' && !(await observePod(ctx.runtime, name))) {
        ended = true;
        break;
      }
    }
    if (stop.signal.aborted) return;
    if (!ended) {
      throw new PodError(`the engine stopped sending events while following pod "${name}" (did it restart?); run \`reuseport-pod logs ${name} -f\` again`, ExitCode.failure);
    }
    // The pod is gone: what its containers wrote last is still on the way.
    const drained = (async () => {
      while (followed.size > 0) await Promise.all([...followed.values()].map((f) => f.done));
    })();
    await Promise.race([drained, delay(DRAIN_MS, undefined, { signal: stop.signal }).catch(() => undefined)]);
  } finally {
    ended = true;
    ctx.signal?.removeEventListener('abort', onAbort);
    stop.abort();
    for (const f of followed.values()) f.stream?.destroy();
  }
}
