// export: the pod as files for other orchestrators, in the shape its mode gives it.
// - reuseport (replicas share one namespace): a Kubernetes Pod *is* this tool's pod (its pause
//   container owns the network namespace, its containers share it), so the replicas become
//   containers of one Pod; Compose gets a sandbox service and replica services joining its namespace.
// - dnat (a namespace per replica, NAT rules in the sandbox's): Kubernetes gets N Pods of one
//   container behind the Service (kube-proxy writes the same kind of rules); Compose gets the
//   sandbox, one service per replica on a network with fixed addresses, and the NAT helper run once
//   in the sandbox's namespace with the rules naming those addresses. Sharing a namespace there
//   would leave all but one replica with EADDRINUSE.
// - host (the host's own namespace): hostNetwork Pods, and Compose services on network_mode: host.
// The shape follows where the mode puts a replica's network namespace (the mode object says), not
// the mode's name: a new mode with replicas in the sandbox's namespace exports as reuseport does.
// Rendering is a pure function of the recorded spec; readExportSource alone asks the engine.
// Replica options go to both targets; what a target cannot express is a comment next to where it
// would be, never dropped (test/export.ts checks every key of OPTION_FLAGS).
import { DEFAULT_SANDBOX_IMAGE } from '../../package-info.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import { ExitCode, PodError } from '../../errors.ts';
import { networkName } from '../model/names.ts';
import { requirePod, type ObservedPod } from '../state/observe.ts';
import { shapeOf, type ExportSource } from '../export/shared.ts';
import { kubernetesYaml } from '../export/kubernetes.ts';
import { composeYaml } from '../export/compose.ts';

// The renderers live in src/pod/export/ (shared.ts, kubernetes.ts, compose.ts and the options of
// each); what other code and the tests import stays importable from here.
export { escapeDollars, shapeOf, type ExportSource, type Shape } from '../export/shared.ts';
export { kubernetesManifest, kubernetesName, kubernetesYaml, serviceType, type KubernetesManifest } from '../export/kubernetes.ts';
export { COMPOSE_NAT, COMPOSE_SANDBOX, composeModel, composeYaml, subnetAddress } from '../export/compose.ts';
export { kubernetesOptions } from '../export/kubernetes-options.ts';
export { composeOptions } from '../export/compose-options.ts';

export { EXPORT_FORMATS, parseExportFormat, type ExportFormat } from '../export/formats.ts';
import type { ExportFormat } from '../export/formats.ts';

export function exportSource(pod: ObservedPod): ExportSource {
  if (!pod.spec) {
    throw new PodError(`pod "${pod.name}" has no recorded spec (its sandbox and state records are gone); \`reuseport-pod rm ${pod.name}\` and create it again`, ExitCode.failure);
  }
  // The sandbox's image as the engine reports it: an image id when its tag has moved on since.
  const image = pod.sandbox?.image;
  const sandboxImage = image && !/^(sha256:)?[0-9a-f]{12,64}$/.test(image) ? image : DEFAULT_SANDBOX_IMAGE;
  return { name: pod.name, spec: pod.spec, replicas: Math.max(1, pod.desired), sandboxImage };
}

/**
 * The pod as the engine records it, and for a DNAT pod exported to Compose its network's subnet:
 * addresses taken from it are free on this engine once the pod is removed, as its ports are.
 */
export async function readExportSource(runtime: Runtime, name: string, format: ExportFormat): Promise<ExportSource> {
  const source = exportSource(await requirePod(runtime, name));
  if (format === 'compose' && shapeOf(source) === 'network') {
    const subnet = await runtime.networkSubnet?.(networkName(name));
    if (subnet) source.subnet = subnet;
  }
  return source;
}


export function exportPod(source: ExportSource, format: ExportFormat): string {
  return format === 'kubernetes' ? kubernetesYaml(source) : composeYaml(source);
}
