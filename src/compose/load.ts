// `up` and `down` read a project this way: the installed Compose resolves the files, the spec's
// schema checks the result, and the services are mapped to pods.
import { findCompose, resolvedModel, type ComposeFlags, type ComposeTool } from './installed.ts';
import { projectName } from './project.ts';
import { validateComposeModel } from './schema.ts';
import { mapProject, type ComposeProject } from './services.ts';

export interface LoadFlags extends ComposeFlags {
  services: string[];
  scale: Record<string, string>;
}

export interface LoadedProject extends ComposeProject {
  tool: ComposeTool;
}

export async function loadProject(flags: LoadFlags, warn: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<LoadedProject> {
  const tool = await findCompose(env);
  const model = await resolvedModel(tool, flags, env, warn);
  validateComposeModel(model);
  const printed = typeof model['name'] === 'string' ? model['name'] : undefined;
  const name = projectName({ ...(flags.project ? { project: flags.project } : {}), ...(printed ? { printed } : {}), files: flags.files, env });
  const profiles = [...(flags.profiles ?? []), ...(env['COMPOSE_PROFILES'] ?? '').split(',').map((p) => p.trim()).filter(Boolean)];
  const project = mapProject(model, { project: name, selected: flags.services, scale: flags.scale, composeVersion: tool.version, profiles });
  return { ...project, tool };
}
