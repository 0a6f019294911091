// The pod's desired state (spec and replica count) as it changes over time. Docker labels cannot
// change, so each new state is a new container, `<pod>-state-g<generation>`, created and never
// started; the highest generation is the truth (observe.ts reads it), older ones are removed once a
// newer one exists. Writers hold the pod's lock (lock.ts), so generations do not race.
import type { PodContext } from '../context.ts';
import { LABEL, stateName, type StoredSpec } from '../model/names.ts';
import type { ObservedPod } from './observe.ts';

export interface DesiredState {
  spec: StoredSpec;
  replicas: number;
  /** A rollout's record: the spec before it, which a failed rollout puts back. */
  previous?: StoredSpec;
}

/** Records `next` as the pod's state; `image` is any local image (the sandbox's): it never runs. */
/** Resolves with the new record's container id. */
export async function writeState(ctx: PodContext, pod: ObservedPod | string, image: string, next: DesiredState): Promise<string> {
  const name = typeof pod === 'string' ? pod : pod.name;
  const old = typeof pod === 'string' ? [] : pod.records.filter((r) => r.labels[LABEL.role] === 'state');
  const generation = Math.max(0, ...old.map((r) => Number(r.labels[LABEL.generation]) || 0)) + 1;
  // A scale or repair keeps what the last rollout replaced; a rollout says it anew.
  const previous = 'previous' in next ? next.previous : typeof pod === 'string' ? undefined : pod.previous;
  const id = await ctx.runtime.createMarker({
    name: stateName(name, generation),
    image,
    labels: {
      [LABEL.pod]: name,
      [LABEL.role]: 'state',
      [LABEL.generation]: String(generation),
      [LABEL.replicas]: String(next.replicas),
      [LABEL.spec]: JSON.stringify(next.spec),
      ...(previous ? { [LABEL.previousSpec]: JSON.stringify(previous) } : {}),
      [LABEL.version]: ctx.version,
    },
  });
  await Promise.all(old.map((r) => ctx.runtime.removeContainer(r.id).catch(() => undefined)));
  return id;
}
