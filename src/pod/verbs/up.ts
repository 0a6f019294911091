// up: converge a project's pods on what its file asks, like `docker compose up`. Observe, plan
// every pod purely (src/pod/model/converge.ts), refuse before acting if any pod cannot be brought
// there, then make the missing networks and volumes and act pod by pod: create, a lossless
// rollout, a scale, or nothing at all.
import type { PodContext } from '../context.ts';
import { ExitCode, PodError } from '../../errors.ts';
import { planPod, type PodStep, type SeenPod } from '../model/converge.ts';
import { LABEL } from '../model/names.ts';
import { formatPort, type PodSpec } from '../model/spec.ts';
import { isIncomplete, observePod } from '../state/observe.ts';
import { createPod } from './create.ts';
import { rolloutPod } from './rollout.ts';
import { scalePod } from './scale.ts';
import { ensureAppImage } from '../state/images.ts';

/** A network or volume the pods use: made with these labels when missing, unless external. */
export interface WantedResource {
  name: string;
  external: boolean;
  labels: Record<string, string>;
}

/** Containers that must run before a pod starts (its depends_on), found by their labels. */
export interface Dependency {
  labels: Record<string, string>;
  /** What to say when none runs: the name and the command that starts it. */
  missing: string;
}

export interface UpRequest {
  project: string;
  pods: Array<{ spec: PodSpec; dependencies: Dependency[] }>;
  networks: WantedResource[];
  volumes: WantedResource[];
  waitTimeoutMs: number;
  monitorMs: number;
}

export interface UpPodResult {
  name: string;
  action: 'created' | 'up-to-date' | 'updated';
  causes: string[];
  replicas: number;
  image: string;
  ports: string[];
  replaced: Array<{ old: string; new: string }>;
  seconds: number;
}

export interface UpResult {
  project: string;
  pods: UpPodResult[];
  networksCreated: string[];
  volumesCreated: string[];
  seconds: number;
}

async function seen(ctx: PodContext, name: string): Promise<SeenPod | undefined> {
  const pod = await observePod(ctx.runtime, name);
  if (!pod) return undefined;
  const s: SeenPod = {
    desired: pod.desired,
    replicaHashes: pod.replicas.map((r) => r.container.labels[LABEL.specHash] ?? ''),
    serving: pod.sandbox?.state === 'running' && pod.spec !== undefined && !isIncomplete(pod),
  };
  if (pod.spec) s.spec = pod.spec;
  return s;
}

async function ensure(ctx: PodContext, kind: 'network' | 'volume', wanted: WantedResource[]): Promise<string[]> {
  const exists = kind === 'network' ? ctx.runtime.networkExists?.bind(ctx.runtime) : ctx.runtime.volumeExists?.bind(ctx.runtime);
  const create = kind === 'network' ? ctx.runtime.createNetwork?.bind(ctx.runtime) : ctx.runtime.createVolume?.bind(ctx.runtime);
  if (wanted.length === 0) return [];
  if (!exists || !create) throw new PodError(`this engine has no ${kind}s; up needs a container engine`, ExitCode.usage);
  const made: string[] = [];
  for (const w of wanted) {
    if (await exists(w.name)) continue;
    if (w.external) throw new PodError(`${kind} "${w.name}" is declared external and does not exist; create it with \`docker ${kind} create ${w.name}\``, ExitCode.notFound);
    ctx.progress(`Creating ${kind} ${w.name} ...`);
    await create(w.name, w.labels);
    made.push(w.name);
  }
  return made;
}

async function checkDependencies(ctx: PodContext, name: string, dependencies: Dependency[]): Promise<void> {
  for (const d of dependencies) {
    const running = (await ctx.runtime.listContainers(d.labels)).filter((c) => c.state === 'running');
    if (running.length === 0) throw new PodError(`pod ${name} depends on ${d.missing}`, ExitCode.notFound);
  }
}

async function act(ctx: PodContext, step: Exclude<PodStep, { kind: 'refused' }>, spec: PodSpec, request: UpRequest): Promise<UpPodResult> {
  const started = Date.now();
  const wait = { waitTimeoutMs: request.waitTimeoutMs, monitorMs: request.monitorMs };
  const base = { name: spec.name, replicas: spec.replicas, image: spec.image, ports: spec.ports.map(formatPort) };
  if (step.kind === 'up-to-date') return { ...base, action: 'up-to-date', causes: [], replaced: [], seconds: 0 };
  if (step.kind === 'create') {
    await createPod(ctx, spec, wait);
    return { ...base, action: 'created', causes: [], replaced: [], seconds: (Date.now() - started) / 1000 };
  }
  const replaced: Array<{ old: string; new: string }> = [];
  const rollout = async (): Promise<void> => {
    if (!step.rollout) return;
    const r = await rolloutPod(ctx, spec.name, { ...step.rollout, maxSurge: 1, ...wait });
    replaced.push(...r.replaced);
  };
  const scale = async (): Promise<void> => {
    if (step.scale) await scalePod(ctx, spec.name, step.scale.to, wait);
  };
  // Fewer replicas first when scaling down (fewer to replace), the new spec first when scaling up
  // (the added replicas start on it).
  if (step.scale && step.scale.to < step.scale.from) await scale().then(rollout);
  else await rollout().then(scale);
  return { ...base, action: 'updated', causes: step.causes, replaced, seconds: (Date.now() - started) / 1000 };
}

export async function upProject(ctx: PodContext, request: UpRequest): Promise<UpResult> {
  const started = Date.now();
  await ctx.runtime.info();
  const steps = await Promise.all(request.pods.map(async (p) => ({ pod: p, step: planPod(request.project, p.spec, await seen(ctx, p.spec.name)) })));
  const refused = steps.flatMap(({ step }) => (step.kind === 'refused' ? [step.reason] : []));
  if (refused.length > 0) throw new PodError(`nothing done: ${refused.join('; ')}`, ExitCode.conflict);
  const acting = steps.filter(({ step }) => step.kind === 'create' || step.kind === 'update');
  for (const { pod } of acting) await checkDependencies(ctx, pod.spec.name, pod.dependencies);
  // Images before networks: an image that is not there must not leave a network behind.
  for (const image of new Set(acting.map(({ pod }) => pod.spec.image))) await ensureAppImage(ctx, image);
  const networksCreated = await ensure(ctx, 'network', request.networks);
  const volumesCreated = await ensure(ctx, 'volume', request.volumes);
  const pods: UpPodResult[] = [];
  try {
    for (const { pod, step } of steps) {
      if (step.kind === 'refused') continue;
      pods.push(await act(ctx, step, pod.spec, request));
    }
  } catch (err) {
    // What this up made and no pod uses (a failed create undid its containers) goes again;
    // what an earlier pod of this up already runs on is in use, and stays.
    await Promise.all([
      ...networksCreated.map((n) => ctx.runtime.removeNetwork?.(n).catch(() => undefined)),
      ...volumesCreated.map((v) => ctx.runtime.removeVolume?.(v).catch(() => undefined)),
    ]);
    throw err;
  }
  return { project: request.project, pods, networksCreated, volumesCreated, seconds: (Date.now() - started) / 1000 };
}
