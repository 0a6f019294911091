// A minimal Redis client over node:net, enough for examples/counter-app.ts: one connection,
// commands pipelined on it (Redis answers in order, so a FIFO of waiting callers matches replies to
// commands), AUTH on every (re)connect, and a RESP2 reply parser. No npm dependency: the example
// image carries only the listener library.
//
// RESP in one paragraph: a command is an array of bulk strings, `*<n>\r\n` then `$<len>\r\n<bytes>\r\n`
// per argument. A reply starts with one type byte: `+` simple string, `-` error, `:` integer,
// `$<len>` bulk string (`$-1` is nil), `*<n>` array of n replies (`*-1` nil). Lengths are in bytes.
import * as net from 'node:net';

export type Reply = string | number | null | Reply[];

/** A `-ERR ...` reply: Redis refused the command (wrong password, wrong type, ...). */
export class RedisReplyError extends Error {
  /** The first word of the reply: ERR, WRONGPASS, NOAUTH, WRONGTYPE, ... */
  readonly kind: string;
  constructor(message: string) {
    super(message);
    this.kind = message.split(' ', 1)[0] ?? 'ERR';
  }
}

export interface RedisOptions {
  host: string;
  port: number;
  /** Sent with AUTH on every connect when set (Redis's requirepass). */
  password?: string | undefined;
  /** How long one connect (TCP + AUTH) may take. */
  connectTimeoutMs?: number;
}

interface Waiter {
  resolve(reply: Reply): void;
  reject(err: Error): void;
}

export function encodeCommand(args: readonly string[]): Buffer {
  let out = `*${args.length}\r\n`;
  for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
  return Buffer.from(out);
}

/**
 * Parses one reply at `offset`; returns it and where the next begins, or undefined when `buf`
 * does not yet hold all of it (TCP delivers replies in arbitrary pieces).
 */
export function parseReply(buf: Buffer, offset = 0): { reply: Reply | RedisReplyError; next: number } | undefined {
  const eol = buf.indexOf('\r\n', offset);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[offset]!);
  const line = buf.toString('utf8', offset + 1, eol);
  const after = eol + 2;
  switch (type) {
    case '+':
      return { reply: line, next: after };
    case '-':
      return { reply: new RedisReplyError(line), next: after };
    case ':':
      return { reply: Number(line), next: after };
    case '$': {
      const len = Number(line);
      if (len < 0) return { reply: null, next: after };
      if (buf.length < after + len + 2) return undefined;
      return { reply: buf.toString('utf8', after, after + len), next: after + len + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { reply: null, next: after };
      const items: Reply[] = [];
      let at = after;
      for (let i = 0; i < n; i++) {
        const item = parseReply(buf, at);
        if (!item) return undefined;
        // An error inside an array (EXEC's) is kept as its message; this client sends no MULTI.
        items.push(item.reply instanceof RedisReplyError ? item.reply.message : item.reply);
        at = item.next;
      }
      return { reply: items, next: at };
    }
    default:
      throw new Error(`not a RESP reply (type byte ${JSON.stringify(type)})`);
  }
}

export class RedisClient {
  private socket: net.Socket | undefined;
  private connecting: Promise<net.Socket> | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private readonly waiters: Waiter[] = [];
  private closed = false;

  private readonly options: RedisOptions;

  constructor(options: RedisOptions) {
    this.options = options;
  }

  get where(): string {
    return `${this.options.host}:${this.options.port}`;
  }

  /** Sends one command, connecting (and authenticating) first when there is no connection. */
  async command(...args: string[]): Promise<Reply> {
    const socket = await this.connection();
    return this.send(socket, args);
  }

  close(): void {
    this.closed = true;
    this.socket?.destroy();
  }

  private send(socket: net.Socket, args: string[]): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      socket.write(encodeCommand(args));
    });
  }

  private connection(): Promise<net.Socket> {
    if (this.closed) return Promise.reject(new Error('redis client closed'));
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private connect(): Promise<net.Socket> {
    const { host, port, password, connectTimeoutMs = 5000 } = this.options;
    return new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect({ host, port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => socket.destroy(new Error(`connecting to redis at ${this.where} timed out after ${connectTimeoutMs} ms`)), connectTimeoutMs);
      socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
      socket.once('close', () => {
        clearTimeout(timer);
        if (this.socket === socket) this.socket = undefined;
        this.buffer = Buffer.alloc(0);
        // Every command still waiting was sent on this connection: its reply will never come.
        for (const w of this.waiters.splice(0)) w.reject(new Error(`redis at ${this.where} closed the connection`));
      });
      socket.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot reach redis at ${this.where}: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
      });
      socket.once('connect', () => {
        this.socket = socket;
        // AUTH is the first thing on every connection, before any caller's command: a reconnect
        // after a Redis restart authenticates again. PING checks that no password was needed.
        const hello = password ? this.send(socket, ['AUTH', password]) : this.send(socket, ['PING']);
        hello.then(
          () => {
            clearTimeout(timer);
            resolve(socket);
          },
          (err: Error) => {
            clearTimeout(timer);
            socket.destroy();
            reject(err);
          },
        );
      });
    });
  }

  private onData(socket: net.Socket, chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let at = 0;
    for (;;) {
      let parsed;
      try {
        parsed = parseReply(this.buffer, at);
      } catch (err) {
        socket.destroy(err as Error);
        return;
      }
      if (!parsed) break;
      at = parsed.next;
      const waiter = this.waiters.shift();
      if (!waiter) {
        socket.destroy(new Error('redis sent a reply nobody asked for'));
        return;
      }
      if (parsed.reply instanceof RedisReplyError) waiter.reject(parsed.reply);
      else waiter.resolve(parsed.reply);
    }
    this.buffer = at === this.buffer.length ? Buffer.alloc(0) : this.buffer.subarray(at);
  }
}
