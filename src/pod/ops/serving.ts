// What a verb that changes replicas needs first: a sandbox that runs and a spec to start replicas of.
import { ExitCode, PodError } from '../../errors.ts';
import type { ObservedPod } from '../state/observe.ts';

export function requireServing(pod: ObservedPod): Required<Pick<ObservedPod, 'sandbox' | 'spec'>> {
  const { sandbox, spec } = pod;
  if (!spec) {
    throw new PodError(`pod "${pod.name}" has no recorded spec (its labels are damaged); remove it with \`reuseport-pod rm ${pod.name}\` and create it again`, ExitCode.failure);
  }
  if (!sandbox) {
    // The spec survives in the state record, and that is all repair needs to re-create the sandbox.
    throw new PodError(`pod "${pod.name}" has no sandbox; run \`reuseport-pod repair ${pod.name}\` (it re-creates the sandbox and the replicas that were in it)`, ExitCode.failure);
  }
  if (sandbox.state !== 'running') {
    throw new PodError(`the sandbox of pod "${pod.name}" is ${sandbox.state}; run \`reuseport-pod repair ${pod.name}\``, ExitCode.failure);
  }
  return { sandbox, spec };
}
