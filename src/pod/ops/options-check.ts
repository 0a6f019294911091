// What the engine must confirm about a pod's options before anything is made: the networks it
// joins exist, and the mode can take them.
import { ExitCode, PodError, usageError } from '../../errors.ts';
import type { PodContext } from '../context.ts';
import { modeOf } from '../modes/index.ts';
import type { StoredSpec } from '../model/names.ts';

export async function checkOptions(ctx: PodContext, pod: string, spec: StoredSpec): Promise<void> {
  const networks = spec.options?.networks ?? [];
  if (networks.length === 0) return;
  if (modeOf(spec).replicaNamespace(pod).kind === 'host') {
    throw usageError(`--network ${networks.join(', ')}: in --mode host the replicas use the host's own network; drop --network, or use the default mode`);
  }
  if (!ctx.runtime.networkExists) throw usageError('--network needs a container engine; this runtime has no networks');
  const missing: string[] = [];
  await Promise.all(networks.map(async (n) => (await ctx.runtime.networkExists?.(n)) || missing.push(n)));
  if (missing.length > 0) {
    throw new PodError(
      `network${missing.length === 1 ? '' : 's'} ${missing.map((n) => `"${n}"`).join(', ')} ${missing.length === 1 ? 'does' : 'do'} not exist; create ${missing.length === 1 ? 'it' : 'them'} with \`docker network create ${missing[0]}\`, or check the name (\`docker network ls\`)`,
      ExitCode.notFound,
    );
  }
}
