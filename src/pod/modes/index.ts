// The one place that turns a pod's recorded mode into the object that knows it.
import type { PodMode } from '../model/spec.ts';
import { dnatMode } from './dnat.ts';
import { hostMode } from './host.ts';
import type { NetworkMode } from './mode.ts';
import { reuseportMode } from './reuseport.ts';

const MODES: Record<PodMode, NetworkMode> = { reuseport: reuseportMode, dnat: dnatMode, host: hostMode };

/** A spec without a mode is a reuseport pod (pods made before modes existed have none). */
export function modeOf(spec: { mode?: PodMode } | undefined): NetworkMode {
  return MODES[spec?.mode ?? 'reuseport'];
}

export type { NetworkMode, ReadyWait, StartedReplica } from './mode.ts';
