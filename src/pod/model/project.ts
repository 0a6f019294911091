// Pods that `up` made from a Compose project carry the project's name, so that `ls` shows it and
// `down` finds the project's pods, networks and volumes. Our own label, not Compose's
// com.docker.compose.project: with that one, docker-compose would take the replicas for its own
// (orphans of the project, warned about on every `up`, stopped by its `down`) without the sandbox.
import type { StoredSpec } from './names.ts';

export const PROJECT_LABEL = 'io.reuseport-pod.project';

export const projectOf = (spec: Pick<StoredSpec, 'options'> | undefined): string | undefined => spec?.options?.labels?.[PROJECT_LABEL];
