// The default mode: replicas join the sandbox's network namespace and listen on the same port with
// SO_REUSEPORT; the kernel spreads new connections over them. Readiness is the count of LISTEN
// sockets in that namespace, which the sandbox's pause program reads.
import type { ContainerStatus } from '../../runtime/runtime.ts';
import type { PodContext } from '../context.ts';
import type { StoredSpec } from '../model/names.ts';
import { countListeners, waitForListeners } from '../state/readiness.ts';
import type { NetworkMode, ReadyWait, StartedReplica } from './mode.ts';

/**
 * Lets the kernel hand a closing listener's queued connections to its siblings (Linux 5.14+), which
 * makes scale-down lossless. Per network namespace: set on the sandbox, whose namespace the
 * replicas share.
 */
export const POD_SYSCTLS: Record<string, string> = { 'net.ipv4.tcp_migrate_req': '1' };

export const reuseportMode: NetworkMode = {
  name: 'reuseport',
  checkEngine: () => undefined,
  ensureImages: async () => undefined,
  sandboxSysctls: POD_SYSCTLS,
  sandboxNamespace: () => undefined,
  publishes: true,
  hostNamespace: false,
  afterSandbox: async () => undefined,
  prepare: async () => undefined,
  replicaNamespace: () => ({ kind: 'pod' }),
  ownNamespaces: false,

  async waitReady(ctx: PodContext, spec: StoredSpec, w: ReadyWait): Promise<void> {
    const [first] = spec.ports;
    if (!first || w.expected === 0) return;
    ctx.progress(`Waiting for ${w.expected} listener${w.expected === 1 ? '' : 's'} on port ${first.containerPort} ...`);
    const seen = await waitForListeners(ctx.runtime, {
      sandboxId: w.sandboxId,
      port: first.containerPort,
      count: w.expected,
      watch: w.started.map(({ id, name }) => ({ id, name })),
      timeoutMs: w.timeoutMs,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    if (seen === undefined) ctx.warn('the sandbox image cannot count listeners (no /pause --listeners): checked only that the replicas are running');
  },

  // A restarted replica rejoins the one namespace: the listener count covers it.
  mustProbe: (added: StartedReplica[]) => added,
  balance: async () => [],
  balanceLost: async () => false,
  balanceAction: () => '',
  recheckOnEvents: false,

  async reachable(ctx, _pod, sandboxId, spec, running: ContainerStatus[]) {
    const [first] = spec?.ports ?? [];
    const listeners = first ? await countListeners(ctx.runtime, sandboxId, first.containerPort) : undefined;
    return { ready: Math.min(running.length, listeners ?? running.length) };
  },

  replicaDetails: () => ({}),
};
