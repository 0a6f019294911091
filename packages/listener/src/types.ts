/** How a listener joins the kernel's SO_REUSEPORT group. */
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
  /**
   * Which path to use: 'auto' (default) picks builtin where Node has it, else the addon.
   * When omitted, the environment variable REUSEPORT_POD_PATH (auto|addon|builtin) sets it.
   */
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
