// CONTRACT (to be implemented in this folder; signatures are fixed, the helper owning src/listener fills them in).
import type * as http from 'node:http';
import type * as net from 'node:net';

export type ReusePortPath = 'builtin' | 'addon';

export interface ListenOptions {
  /** 0-65535; 0 picks an ephemeral port. */
  port: number;
  /** A literal IPv4 or IPv6 address. Default '0.0.0.0'. */
  host?: string;
  /** listen(2) backlog. Default 511, like Node. */
  backlog?: number;
  /** IPv6 only (no IPv4-mapped). Only with an IPv6 host. */
  ipv6Only?: boolean;
  /** Which path to use: 'auto' (default) picks builtin where Node has it, else the addon. */
  prefer?: 'auto' | ReusePortPath;
}

export interface ListenResult {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  path: ReusePortPath;
}

export interface ReusePortSupport {
  /** The path 'auto' would take, or null when neither is available. */
  path: ReusePortPath | null;
  builtin: boolean;
  addon: boolean;
  /** A sentence saying why (and, when path is null, how to fix it). */
  reason: string;
}

export declare function reusePortSupport(): ReusePortSupport;
export declare function listen(server: net.Server, options: ListenOptions): Promise<ListenResult>;
export declare function createServer(handler: http.RequestListener, options: ListenOptions): Promise<http.Server & { reusePort: ListenResult }>;
