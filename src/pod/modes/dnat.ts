// The DNAT mode (create --mode dnat), for servers that do not set SO_REUSEPORT: each replica has a
// network namespace of its own on the pod's network and listens normally; the sandbox still alone
// publishes the ports, and NAT rules in the sandbox's namespace (never the host's) send each new
// connection to one replica with kube-proxy's probabilities 1/n, 1/(n-1), ..., 1, masquerading so
// that replies return through the sandbox. A short-lived helper container (reuseport-pod/nat) joins
// the sandbox's namespace with NET_ADMIN only and rewrites the pod's own chains in one
// iptables-restore COMMIT; established connections keep their conntrack entry, so a replica can be
// taken out of the rules before it is stopped without breaking what it is serving.
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { DEFAULT_NAT_IMAGE } from '../../package-info.ts';
import type { ContainerStatus, HelperConfig, Runtime } from '../../runtime/runtime.ts';
import type { PodContext } from '../context.ts';
import { ExitCode, PodError, throwIfAborted } from '../../errors.ts';
import { ensureNatImage } from '../state/images.ts';
import { LABEL, natHelperName, networkName, replicaNumber, type StoredSpec } from '../model/names.ts';
import { failIfExited, logReport } from '../state/readiness.ts';
import type { NetworkMode, ReadyWait, StartedReplica } from './mode.ts';
import { POD_SYSCTLS } from './reuseport.ts';

export const DNAT_CHAIN = 'RPOD-DNAT';
export const MASQ_CHAIN = 'RPOD-MASQ';
/** Lets the sandbox's namespace route what it DNATs to a replica on the pod's network. */
export const DNAT_SYSCTLS = { 'net.ipv4.ip_forward': '1' };
const HELPER_TIMEOUT_MS = 30_000;
const WITHDRAW_SETTLE_MS = 200;

export type DnatRuntime = Runtime & Required<Pick<Runtime, 'createNetwork' | 'removeNetwork' | 'listNetworks' | 'runHelper'>>;

/** The engine, if it can run DNAT pods; else the one-line reason why not. */
export function dnatRuntime(runtime: Runtime): DnatRuntime {
  if (runtime.createNetwork && runtime.removeNetwork && runtime.listNetworks && runtime.runHelper) return runtime as DnatRuntime;
  throw new PodError('--mode dnat needs a container engine (Docker or Podman): this runtime cannot make networks or run the NAT helper; use the default --mode reuseport', ExitCode.usage);
}

export interface Backend {
  name: string;
  address: string;
}

/** Container ports the sandbox takes connections on: each is sent to the same port of a replica. */
const containerPorts = (spec: StoredSpec): number[] => [...new Set(spec.ports.map((p) => p.containerPort))];

/**
 * iptables-restore input that replaces the pod's two chains in one transaction. Declaring a chain
 * (`:NAME - [0:0]`) with --noflush empties just that chain, so Docker's own nat rules in the same
 * namespace (its embedded DNS) are left alone. The n-th of N rules matches with probability
 * 1/(N-n+1): each backend gets 1/N of the new connections, and the last one takes what is left.
 */
export function natRuleSet(spec: StoredSpec, backends: Backend[]): string {
  const lines = ['*nat', `:${DNAT_CHAIN} - [0:0]`, `:${MASQ_CHAIN} - [0:0]`];
  for (const port of containerPorts(spec)) {
    backends.forEach((b, i) => {
      const left = backends.length - i;
      const odds = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(10)}` : '';
      lines.push(`-A ${DNAT_CHAIN} -p tcp -m tcp --dport ${port}${odds} -m comment --comment ${b.name} -j DNAT --to-destination ${b.address}:${port}`);
    });
    for (const b of backends) lines.push(`-A ${MASQ_CHAIN} -d ${b.address}/32 -p tcp -m tcp --dport ${port} -j MASQUERADE`);
  }
  lines.push('COMMIT');
  return lines.join('\n');
}

/** The backends named in a rule set as the helper prints it (iptables-save lines). */
export function backendsOf(rules: string[]): Backend[] {
  const found: Backend[] = [];
  for (const line of rules) {
    const m = new RegExp(`^-A ${DNAT_CHAIN} .*--comment (\\S+) .*--to-destination ([0-9.]+):`).exec(line);
    if (m && !found.some((b) => b.address === m[2])) found.push({ name: (m[1] ?? '').replace(/^"|"$/g, ''), address: m[2] ?? '' });
  }
  return found;
}

function helperConfig(pod: string, cmd: string[], env: Record<string, string>): HelperConfig {
  return {
    name: natHelperName(pod, randomBytes(3).toString('hex')),
    image: DEFAULT_NAT_IMAGE,
    labels: { [LABEL.pod]: pod, [LABEL.role]: 'nat' },
    cmd,
    env,
    capAdd: ['NET_ADMIN'],
    timeoutMs: HELPER_TIMEOUT_MS,
  };
}

async function runNatHelper(ctx: PodContext, pod: string, sandboxId: string, cmd: string[], env: Record<string, string> = {}): Promise<string[]> {
  const runtime = dnatRuntime(ctx.runtime);
  const result = await runtime.runHelper(sandboxId, helperConfig(pod, cmd, env)).catch(async (err: unknown) => {
    if (!(await ctx.runtime.imageExists(DEFAULT_NAT_IMAGE))) await ensureNatImage(ctx);
    throw err;
  });
  if (result.exitCode !== 0) {
    const why = (result.stderr || result.stdout).trim().split('\n').slice(0, 3).join('; ');
    throw new PodError(`the NAT helper could not ${cmd[0]} the rules of pod "${pod}" (exit ${result.exitCode}): ${why}`, ExitCode.failure);
  }
  return result.stdout.split('\n').filter(Boolean);
}

/** Replaces the pod's rule set with one for `backends`; resolves with the rules now in force. */
export function writeRules(ctx: PodContext, pod: string, sandboxId: string, spec: StoredSpec, backends: Backend[]): Promise<string[]> {
  return runNatHelper(ctx, pod, sandboxId, ['apply'], { RULES: natRuleSet(spec, backends) });
}

/** The rules in force in the sandbox's namespace (iptables-save lines of the pod's chains and hooks). */
export function readRules(ctx: PodContext, pod: string, sandboxId: string): Promise<string[]> {
  return runNatHelper(ctx, pod, sandboxId, ['show']);
}

/** The replica's address on the pod's network; empty when it has none (not running). */
export async function replicaAddress(runtime: Runtime, pod: string, id: string): Promise<string> {
  const status = await runtime.containerStatus(id);
  return status.state === 'running' ? (status.addresses?.[networkName(pod)] ?? '') : '';
}

/**
 * Every running replica of the pod but `without` (ids), by replica number: the backends the rules
 * should name. A replica is added here only after waitAccepting said it accepts.
 */
export async function currentBackends(runtime: Runtime, pod: string, without: string[] = []): Promise<Backend[]> {
  const replicas = (await runtime.listContainers({ [LABEL.pod]: pod, [LABEL.role]: 'replica' }))
    .filter((c) => c.state === 'running' && !without.includes(c.id))
    .sort((a, b) => (replicaNumber(a.labels) ?? 0) - (replicaNumber(b.labels) ?? 0));
  const addresses = await Promise.all(replicas.map((c) => replicaAddress(runtime, pod, c.id).catch(() => '')));
  return replicas.map((c, i) => ({ name: c.name, address: addresses[i] ?? '' })).filter((b) => b.address !== '');
}

/** Rewrites the rules to send new connections to every running replica except `without`. */
export async function publishBackends(ctx: PodContext, pod: string, sandboxId: string, spec: StoredSpec, without: string[] = []): Promise<string[]> {
  const backends = await currentBackends(ctx.runtime, pod, without);
  if (without.length > 0) ctx.progress(`Taking ${without.length} replica${without.length === 1 ? '' : 's'} out of the NAT rules before stopping ...`);
  const rules = await writeRules(ctx, pod, sandboxId, spec, backends);
  // A connection DNAT'ed just before the rewrite may still be completing its handshake toward a
  // leaving replica; a moment lets it reach the accept queue and be accepted before SIGTERM closes
  // the listener (a replica alone in its namespace has no sibling to hand its queue to).
  if (without.length > 0) await delay(WITHDRAW_SETTLE_MS);
  return rules;
}

/**
 * True when the rules in force do not name exactly the running replicas at their current addresses:
 * the sandbox restarted (a new namespace has no rules) or a replica came back with a new address.
 */
export async function rulesStale(ctx: PodContext, pod: string, sandboxId: string): Promise<boolean> {
  const [rules, backends] = await Promise.all([readRules(ctx, pod, sandboxId), currentBackends(ctx.runtime, pod)]);
  const key = (list: Backend[]): string => list.map((b) => `${b.name}=${b.address}`).sort().join(',');
  const hooked = rules.some((l) => l.includes(`-j ${DNAT_CHAIN}`)) && rules.some((l) => l.includes(`-j ${MASQ_CHAIN}`));
  return !hooked || key(backendsOf(rules)) !== key(backends);
}

/** Exit code of `/pause --accepts IP PORT` in the sandbox: 0 accepts, 1 not (yet), else cannot ask. */
async function accepts(runtime: Runtime, sandboxId: string, address: string, port: number): Promise<number> {
  const r = await runtime.exec(sandboxId, ['/pause', '--accepts', address, String(port)]).catch(() => ({ exitCode: -1, stdout: '', stderr: '' }));
  return r.exitCode;
}

/** Which of `addresses` accept on `port`, asked by the NAT helper (no capability) in the sandbox's namespace. */
async function acceptsViaHelper(ctx: PodContext, pod: string, sandboxId: string, addresses: string[], port: number): Promise<Set<string>> {
  const config = { ...helperConfig(pod, ['accepts', ...addresses.map((a) => `${a}:${port}`)], {}), capAdd: [] };
  const r = await dnatRuntime(ctx.runtime).runHelper(sandboxId, config);
  return new Set(r.stdout.split('\n').filter(Boolean).map((l) => l.replace(/:\d+$/, '')));
}

export interface AcceptWait {
  pod: string;
  sandboxId: string;
  port: number;
  replicas: Array<{ id: string; name: string }>;
  timeoutMs: number;
  /** Throws when a replica exited meanwhile (the readiness module's check). */
  failIfExited: (watch: Array<{ id: string; name: string }>) => Promise<void>;
}

/** Resolves once every replica accepts a TCP connection from the sandbox's namespace on `port`. */
export async function waitAccepting(ctx: PodContext, w: AcceptWait): Promise<void> {
  const deadline = Date.now() + w.timeoutMs;
  let waiting = [...w.replicas];
  let pause = 20;
  // A sandbox from an older pause image (no --accepts: usage error 2) or another image (126/127):
  // the NAT helper, which carries a pause of its own, probes instead (slower: a container per round).
  let viaHelper = false;
  for (;;) {
    const addresses = await Promise.all(waiting.map((r) => replicaAddress(ctx.runtime, w.pod, r.id).catch(() => '')));
    let results = viaHelper ? [] : await Promise.all(addresses.map((a) => (a ? accepts(ctx.runtime, w.sandboxId, a, w.port) : 1)));
    if (!viaHelper && results.some((code) => code === 2 || code === 126 || code === 127)) viaHelper = true;
    if (viaHelper) {
      const ok = await acceptsViaHelper(ctx, w.pod, w.sandboxId, addresses.filter(Boolean), w.port);
      results = addresses.map((a) => (a && ok.has(a) ? 0 : 1));
    }
    waiting = waiting.filter((_, i) => results[i] !== 0);
    if (waiting.length === 0) return;
    await w.failIfExited(waiting);
    throwIfAborted(ctx.signal);
    if (Date.now() > deadline) {
      // Quoted here: the operation undoes what it made next, and `logs` would have nothing to show.
      throw new PodError(
        `${waiting.map((r) => r.name).join(', ')} did not accept connections on port ${w.port} within ${Math.round(w.timeoutMs / 1000)} s\n` +
          `${await logReport(ctx.runtime, waiting)}\n  (slow to start? give it a longer --wait-timeout; does the app listen on $PORT on all addresses?)`,
        ExitCode.notReady,
      );
    }
    await delay(pause);
    pause = Math.min(pause * 2, 250);
  }
}

/** Makes the pod's network (labelled with the pod, so that rm finds it); resolves with its name. */
export async function createPodNetwork(ctx: PodContext, pod: string): Promise<string> {
  const runtime = dnatRuntime(ctx.runtime);
  const name = networkName(pod);
  try {
    await runtime.createNetwork(name, { [LABEL.pod]: pod, [LABEL.role]: 'network', [LABEL.version]: ctx.version });
  } catch (err) {
    const cause = (err as { cause?: { statusCode?: number } }).cause;
    if (cause?.statusCode === 409 || /already exists/i.test(String((err as Error).message))) {
      const ours = await runtime.listNetworks({ [LABEL.pod]: pod });
      if (ours.some((n) => n.name === name)) return name; // left by an interrupted run of this pod: reuse it
      throw new PodError(`a network named "${name}" already exists and was not made by reuseport-pod; remove it or choose another pod name`, ExitCode.conflict, { cause: err });
    }
    throw err;
  }
  return name;
}

/** Removes every network labelled with the pod (none for reuseport pods, or on engines without networks). */
export async function removePodNetworks(runtime: Runtime, pod: string): Promise<string[]> {
  if (!runtime.listNetworks || !runtime.removeNetwork) return [];
  const names = (await runtime.listNetworks({ [LABEL.pod]: pod })).map((n) => n.name);
  for (const name of names) await runtime.removeNetwork(name);
  return names;
}

export const dnatMode: NetworkMode = {
  name: 'dnat',
  checkEngine: (runtime) => void dnatRuntime(runtime),
  ensureImages: (ctx) => ensureNatImage(ctx),
  // tcp_migrate_req too, though a replica alone in its namespace has no sibling to hand its queue to.
  sandboxSysctls: { ...POD_SYSCTLS, ...DNAT_SYSCTLS },
  sandboxNamespace: (pod) => ({ kind: 'network', name: networkName(pod) }),
  publishes: true,
  hostNamespace: false,
  afterSandbox: async () => undefined,
  async prepare(ctx, pod) {
    ctx.progress(`Creating network ${networkName(pod)} ...`);
    return createPodNetwork(ctx, pod);
  },
  replicaNamespace: (pod) => ({ kind: 'network', name: networkName(pod) }),
  // The sandbox's restarts cannot strand a replica in a namespace of its own.
  ownNamespaces: true,

  async waitReady(ctx: PodContext, spec: StoredSpec, w: ReadyWait): Promise<void> {
    const [first] = spec.ports;
    if (!first || w.expected === 0 || w.started.length === 0) return;
    // Own namespaces: the sandbox cannot see their listeners, so it connects to each one instead.
    ctx.progress(`Waiting for ${w.started.map((r) => r.name).join(', ')} to accept on port ${first.containerPort} ...`);
    const wait = { pod: w.pod, sandboxId: w.sandboxId, port: first.containerPort, replicas: w.started, timeoutMs: w.timeoutMs, failIfExited: (x: Array<{ id: string; name: string }>) => failIfExited(ctx.runtime, x) };
    return waitAccepting(ctx, wait);
  },

  // A restarted replica may come back with a new address: it must accept before the rules name it.
  mustProbe: (added: StartedReplica[], restarted: StartedReplica[]) => [...added, ...restarted],
  balance: (ctx, pod, sandboxId, spec, leaving = []) => publishBackends(ctx, pod, sandboxId, spec, leaving),
  balanceLost: (ctx, pod, sandboxId) => rulesStale(ctx, pod, sandboxId),
  balanceAction: (rules) => `rewrote the NAT rules (${rules.filter((l) => l.includes('DNAT --to')).length} backends)`,
  // A restarted sandbox looks healthy but has lost its rules (a fresh namespace): only reading them tells.
  recheckOnEvents: true,

  async reachable(ctx, pod, sandboxId, _spec, running: ContainerStatus[]) {
    // Ready = running and named in the rules: what new connections can reach.
    const rules = await readRules(ctx, pod, sandboxId);
    const named = new Set(backendsOf(rules).map((b) => b.name));
    return { ready: running.filter((s) => named.has(s.name)).length, rules };
  },

  replicaDetails: (pod, status) => ({ address: status.addresses?.[networkName(pod)] ?? null }),
};
