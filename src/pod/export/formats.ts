// The export formats, apart from the renderers: the CLI names them in --help without loading yaml.
import { usageError } from '../../errors.ts';

export const EXPORT_FORMATS = ['kubernetes', 'compose'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export function parseExportFormat(raw: unknown): ExportFormat {
  const format = String(raw ?? '');
  if ((EXPORT_FORMATS as readonly string[]).includes(format)) return format as ExportFormat;
  throw usageError(`--format "${format}" is not known; use ${EXPORT_FORMATS.join(' or ')}`);
}
