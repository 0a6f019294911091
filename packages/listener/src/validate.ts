import { isIP } from 'node:net';
import { inspect } from 'node:util';

import { codedError } from './errors.ts';
import type { ListenOptions, ReusePortPath } from './types.ts';

/** ListenOptions with every default filled in and every value checked. */
export interface ValidListenOptions {
  port: number;
  host: string;
  family: 4 | 6;
  backlog: number;
  ipv6Only: boolean;
  prefer: 'auto' | ReusePortPath;
}

/** The environment variable that sets the default of `prefer` (benchmarks and examples use it). */
export const PATH_ENV = 'REUSEPORT_POD_PATH';

const PREFER_VALUES: readonly string[] = ['auto', 'addon', 'builtin'];
const DEFAULT_HOST = '0.0.0.0';
const DEFAULT_BACKLOG = 511;
const MAX_BACKLOG = 2 ** 31 - 1;

function show(value: unknown): string {
  return inspect(value, { breakLength: Infinity });
}

function typeError(name: string, expected: string, value: unknown): TypeError {
  return codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `${name} must be ${expected}; received ${show(value)} (${typeof value})`);
}

/**
 * Checks everything in JS so that a bad value gets a message naming it, and never reaches a syscall.
 * Codes follow Node's: ERR_INVALID_ARG_TYPE and ERR_INVALID_ARG_VALUE (TypeError),
 * ERR_SOCKET_BAD_PORT and ERR_OUT_OF_RANGE (RangeError).
 */
export function validateListenOptions(options: ListenOptions, env: NodeJS.ProcessEnv = process.env): ValidListenOptions {
  if (typeof options !== 'object' || options === null) {
    throw typeError('options', 'an object like { port: 8080 }', options);
  }

  const { port } = options;
  if (typeof port !== 'number') throw typeError('options.port', 'a number', port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw codedError(RangeError, 'ERR_SOCKET_BAD_PORT', `options.port must be an integer from 0 to 65535; received ${show(port)}`);
  }

  const host = options.host ?? DEFAULT_HOST;
  if (typeof host !== 'string') throw typeError('options.host', 'a string', host);
  const family = isIP(host);
  if (family === 0) {
    throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE',
      `options.host must be a literal IPv4 or IPv6 address such as '0.0.0.0', '127.0.0.1' or '::' (names are not resolved); received ${show(host)}`);
  }
  if (host.includes('%')) {
    throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `options.host must not carry an IPv6 zone id ('%...'); received ${show(host)}`);
  }

  const backlog = options.backlog ?? DEFAULT_BACKLOG;
  if (typeof backlog !== 'number') throw typeError('options.backlog', 'a number', backlog);
  if (!Number.isInteger(backlog) || backlog < 1 || backlog > MAX_BACKLOG) {
    throw codedError(RangeError, 'ERR_OUT_OF_RANGE', `options.backlog must be a positive integer; received ${show(backlog)}`);
  }

  const ipv6Only = options.ipv6Only ?? false;
  if (typeof ipv6Only !== 'boolean') throw typeError('options.ipv6Only', 'a boolean', ipv6Only);
  if (ipv6Only && family !== 6) {
    throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `options.ipv6Only needs an IPv6 host; received host ${show(host)}`);
  }

  return { port, host, family: family as 4 | 6, backlog, ipv6Only, prefer: validatePrefer(options.prefer, env) };
}

function validatePrefer(prefer: unknown, env: NodeJS.ProcessEnv): ValidListenOptions['prefer'] {
  if (prefer !== undefined) {
    if (typeof prefer !== 'string' || !PREFER_VALUES.includes(prefer)) {
      throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `options.prefer must be 'auto', 'addon' or 'builtin'; received ${show(prefer)}`);
    }
    return prefer as ValidListenOptions['prefer'];
  }
  const fromEnv = env[PATH_ENV];
  if (fromEnv === undefined || fromEnv === '') return 'auto';
  if (!PREFER_VALUES.includes(fromEnv)) {
    throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `${PATH_ENV} must be 'auto', 'addon' or 'builtin'; received ${show(fromEnv)}`);
  }
  return fromEnv as ValidListenOptions['prefer'];
}
