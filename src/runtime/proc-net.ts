// What the kernel says about processes and their sockets, read from /proc (listener counts through
// the addon's sock_diag netlink where it can, which is much cheaper). Only runtimes whose
// processes are this host's own (local processes, a local engine's containers) use it: a pid from a
// remote engine names some unrelated process here.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { isIP } from 'node:net';
import { endianness } from 'node:os';
import { loadAddon } from '@reuseport-pod/listener/addon';

const TCP_LISTEN = '0A';

export interface Listener {
  /** 4 bytes (IPv4, IPv4-mapped IPv6 included) or 16 (IPv6). */
  address: Buffer;
  port: number;
  inode: string;
}

/** /proc/net/tcp prints each 32-bit word of the address in the host's byte order. */
function wordsToBytes(hex: string): Buffer {
  const out = Buffer.alloc(hex.length / 2);
  for (let i = 0; i < hex.length; i += 8) {
    const word = Buffer.from(hex.slice(i, i + 8), 'hex');
    if (endianness() === 'LE') word.reverse();
    word.copy(out, i / 2);
  }
  return out;
}

const MAPPED = Buffer.from('00000000000000000000ffff', 'hex');

function unmapped(address: Buffer): Buffer {
  return address.length === 16 && address.subarray(0, 12).equals(MAPPED) ? address.subarray(12) : address;
}

/**
 * TCP sockets in LISTEN state on `port` in the network namespace of `pid` ('self': this process's,
 * i.e. the host's for the CLI). Empty when the files cannot be read.
 */
export function listeners(port: number, pid: number | 'self' = 'self'): Listener[] {
  return readListeners(port, pid) ?? [];
}

/**
 * How many LISTEN sockets on `port` the network namespace of `pid` has, counted as the sandbox's
 * `/pause --listeners PORT` counts them (tcp and tcp6, every address); undefined when /proc/<pid>/net/tcp
 * cannot be read (the process is gone), so that an unreadable table never reads as "none".
 */
export function countListening(port: number, pid: number): number | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  // The addon asks the kernel for listeners only; /proc/<pid>/net/tcp{,6} list every connection
  // of the host, which takes 10-90 ms to read on a host with a large connection table.
  const native = loadAddon().binding?.countListeners;
  if (native) {
    try {
      return native(pid, port);
    } catch {
      // not root (EPERM), the process is gone (ENOENT): /proc says what it can
    }
  }
  return readListeners(port, pid)?.length;
}

function readListeners(port: number, pid: number | 'self'): Listener[] | undefined {
  const found: Listener[] = [];
  for (const file of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8');
    } catch {
      if (file === 'tcp') return undefined; // a process that is gone
      continue; // no tcp6 when IPv6 is off
    }
    for (const row of text.split('\n').slice(1)) {
      const fields = row.trim().split(/\s+/);
      const [, local = '', , st] = fields;
      const colon = local.lastIndexOf(':');
      if (st !== TCP_LISTEN || colon < 0 || Number.parseInt(local.slice(colon + 1), 16) !== port) continue;
      found.push({ address: unmapped(wordsToBytes(local.slice(0, colon))), port, inode: fields[9] ?? '' });
    }
  }
  return found;
}

/** An address as bytes (4 for IPv4, 16 for IPv6), or undefined when it is not a literal address. */
export function addressBytes(ip: string): Buffer | undefined {
  const kind = isIP(ip);
  if (kind === 4) return Buffer.from(ip.split('.').map(Number));
  if (kind !== 6) return undefined;
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = Buffer.from(v4[1]!.split('.').map(Number));
    text = `${text.slice(0, -v4[1]!.length)}${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(Number.parseInt(g, 16), i * 2));
  return unmapped(out);
}

const isWildcard = (address: Buffer): boolean => address.every((b) => b === 0);

/**
 * Whether a listener serves connections to `podAddress`: one on 0.0.0.0 or :: serves every address;
 * a pod published on all addresses (undefined) is served only by those.
 */
export function serves(listener: Listener, podAddress: string | undefined): boolean {
  if (isWildcard(listener.address)) return true;
  const wanted = podAddress === undefined ? undefined : addressBytes(podAddress);
  if (!wanted || isWildcard(wanted)) return false;
  return listener.address.equals(wanted);
}

function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** `pid` and every process descended from it (a server may listen in a child, e.g. under a shell). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [pid];
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = Number(statFields(Number(name))?.[1]);
    if (Number.isInteger(ppid)) children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const tree: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    tree.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return tree;
}

/**
 * The socket inodes the processes hold; undefined when none of their fd tables can be read (not
 * ours, not root), so that "holds no listener" is never said from a table we could not see.
 */
export function socketInodes(pids: readonly number[]): Set<string> | undefined {
  const inodes = new Set<string>();
  let readable = false;
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    readable = true;
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        // closed meanwhile
      }
    }
  }
  return readable ? inodes : undefined;
}

/**
 * Whether the process `pid` or one of its descendants holds a LISTEN socket on `port` (in its own
 * network namespace) that `counts`; undefined when /proc does not tell (gone, or not readable).
 */
export function treeListensOn(pid: number, port: number, counts: (l: Listener) => boolean = () => true): boolean | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const own = socketInodes(processTree(pid));
  if (!own) return undefined;
  return listeners(port, pid).some((l) => own.has(l.inode) && counts(l));
}

/** The effective uid of `pid` (the second field of the Uid: line), as this host's kernel sees it. */
export function effectiveUid(pid: number): number | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const line = /^Uid:\s+\d+\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return line ? Number(line[1]) : undefined;
  } catch {
    return undefined;
  }
}
