// Pods that `up` made from a Compose project carry the project's name, so that `ls` shows it and
// `down` finds the project's pods, networks and volumes. Our own label, not Compose's
// com.docker.compose.project: with that one, docker-compose would take the replicas for its own
// (orphans of the project, warned about on every `up`, stopped by its `down`) without the sandbox.
import type { StoredSpec } from './names.ts';

export const PROJECT_LABEL = 'io.reuseport-pod.project';

/**
 * The field `export --format compose` puts on every service it makes for a pod (Compose keeps
 * service-level x- fields and ignores them), so that `up` can take the file back: see
 * src/pod/export/compose-up.ts and src/compose/services.ts.
 */
export const UP_FIELD = 'x-reuseport-pod';

export const projectOf = (spec: Pick<StoredSpec, 'options'> | undefined): string | undefined => spec?.options?.labels?.[PROJECT_LABEL];
