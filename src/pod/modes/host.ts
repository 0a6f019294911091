// The host mode (create --mode host): the seed's simplest technique and the data path's limit.
// Replicas run in the host's own network namespace and listen on the host's port with
// SO_REUSEPORT: no namespace to cross, no NAT, no docker-proxy.
//
// The sandbox stays, in the host's namespace too, publishing nothing and with no sysctls (Docker
// rejects net.* sysctls with --network host, and the host's are the host's): it carries the pod's
// spec in its labels like every pod's sandbox, so that every verb finds the pod the same way, and
// its pause program counts the listeners on the port from inside the engine's host, which works
// on a remote engine as well as a local one.
//
// Port hijacking: any process of the same user that listens on the port with SO_REUSEPORT would
// silently join the group and take a share of the connections. So the port must be free when the
// pod is made: the sandbox counts its listeners before any replica starts.
import { ExitCode, PodError } from '../../errors.ts';
import type { StoredSpec } from '../model/names.ts';
import { formatPort } from '../model/spec.ts';
import { countListeners } from '../state/readiness.ts';
import type { NetworkMode } from './mode.ts';
import { reuseportMode } from './reuseport.ts';

export const hostMode: NetworkMode = {
  ...reuseportMode,
  name: 'host',
  sandboxSysctls: {},
  sandboxNamespace: () => ({ kind: 'host' }),
  publishes: false,
  hostNamespace: true,
  replicaNamespace: () => ({ kind: 'host' }),
  // A sandbox restart cannot strand a replica: they share no namespace of the sandbox's.
  ownNamespaces: true,

  async afterSandbox(ctx, spec: StoredSpec, sandboxId: string): Promise<void> {
    for (const p of spec.ports) {
      const listeners = await countListeners(ctx.runtime, sandboxId, p.containerPort);
      if (listeners !== undefined && listeners > 0) {
        throw new PodError(
          `port ${formatPort(p).replace(/:\d+$/, '')} already has ${listeners} listener${listeners === 1 ? '' : 's'} on the host: in --mode host a process listening there with SO_REUSEPORT would take a share of the pod's connections; stop it or choose another --port`,
          ExitCode.conflict,
        );
      }
    }
  },
};
