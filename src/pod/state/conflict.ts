// A name the engine says is taken (409): whose is it? A pod's own objects carry its labels, so the
// user is told which pod and what the object is, instead of "not made by reuseport-pod" (removing
// another pod's state record on that advice would silently revert that pod).
import type { Runtime } from '../../runtime/runtime.ts';
import { ExitCode, PodError } from '../../errors.ts';
import { isLegacyStateName, LABEL } from '../model/names.ts';

const ROLE_WORDS: Record<string, string> = {
  sandbox: 'sandbox',
  replica: 'replica',
  state: 'state record',
  lock: 'lock',
  nat: 'NAT helper',
};

export async function nameConflict(runtime: Runtime, name: string, cause?: unknown): Promise<PodError> {
  const labels = (await runtime.containerStatus(name).catch(() => undefined))?.labels ?? {};
  const owner = labels[LABEL.pod];
  const options = cause === undefined ? undefined : { cause };
  if (owner === undefined) {
    return new PodError(`a container named "${name}" already exists and was not made by reuseport-pod; remove or rename it, or choose another pod name`, ExitCode.conflict, options);
  }
  const role = labels[LABEL.role] ?? '';
  if (role === 'state' && isLegacyStateName(owner, name)) {
    return new PodError(
      `the name "${name}" is taken by a state record of pod "${owner}", named the way reuseport-pod 0.1.0 did; run \`reuseport-pod repair ${owner}\` (it renames the record), then try again`,
      ExitCode.conflict,
      options,
    );
  }
  return new PodError(`the name "${name}" is taken by the ${ROLE_WORDS[role] ?? role} of pod "${owner}"; choose another pod name`, ExitCode.conflict, options);
}
