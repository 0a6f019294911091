// Small readers shared by the Compose mapping: shell words, and the parsers' messages re-worded
// for the key they came from.
import { PodError, usageError } from '../errors.ts';

/**
 * A command given as one string, split as Compose does (POSIX shell words: quotes and backslashes,
 * no expansion), so that `command: node server.js` runs node with one argument.
 */
export function shellWords(text: string, where: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1] as string)) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
    } else if (c === '\\' && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) throw usageError(`${where}: "${text}" has an unclosed ${quote} quote`);
  if (word !== undefined) words.push(word);
  return words;
}

/**
 * Runs one of the pod's option parsers on a Compose value. Their messages name the docker flag
 * (`--memory "3" is below ...`); from a Compose file the user must read the key instead.
 */
export function at<T>(where: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (!(err instanceof PodError)) throw err;
    throw new PodError(`${where}: ${err.message.replace(/^--?[a-z][a-z-]*\s+/, '')}`, err.exitCode, { cause: err });
  }
}

export type Obj = Record<string, unknown>;

export const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A list Compose writes either as a list or as one string (`dns`, `tmpfs`, `env_file`). */
export const listOf = (v: unknown): string[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);

/** `KEY=VALUE` pairs from a list, or a mapping (labels, extra_hosts); `sep` joins a mapping's entries. */
export function pairsOf(v: unknown, sep: string): string[] {
  if (Array.isArray(v)) return v.map(String);
  if (isObj(v)) return Object.entries(v).map(([k, val]) => (val === null || val === undefined ? k : `${k}${sep}${String(val)}`));
  return [];
}
