// "A failed step undoes what that operation made": each operation records what it created here
// and, on failure, removes exactly that (never anything it found already running).
import type { Runtime } from '../../runtime/runtime.ts';

export class Undo {
  private readonly runtime: Runtime;
  private replicas: string[] = [];
  private sandbox: string | undefined;
  private records: string[] = [];
  private network: string | undefined;
  private readonly drainS: number | undefined;

  /**
   * `drainS`: stop replicas gracefully (SIGTERM, up to that long) before removing them. For
   * operations on a serving pod: a replica that listened but never got healthy has taken a share of
   * the pod's connections, which a SIGKILL would reset; a closing listener hands them to its siblings.
   */
  constructor(runtime: Runtime, options: { drainS?: number } = {}) {
    this.runtime = runtime;
    this.drainS = options.drainS;
  }

  replica(id: string): void {
    this.replicas.push(id);
  }

  sandboxMade(id: string): void {
    this.sandbox = id;
  }

  networkMade(name: string): void {
    this.network = name;
  }

  record(id: string): void {
    this.records.push(id);
  }

  /** Replicas first: removing a sandbox under joined replicas leaves them unrecoverable. */
  async run(): Promise<void> {
    const replicas = this.replicas.splice(0);
    const drainS = this.drainS;
    if (drainS !== undefined) await Promise.allSettled(replicas.map((id) => this.runtime.stopContainer(id, drainS)));
    await Promise.allSettled(replicas.map((id) => this.runtime.removeContainer(id)));
    if (this.sandbox) await this.runtime.removeContainer(this.sandbox).catch(() => undefined);
    this.sandbox = undefined;
    // After every container on it is gone: a network with endpoints cannot be removed.
    if (this.network) await this.runtime.removeNetwork?.(this.network).catch(() => undefined);
    this.network = undefined;
    await Promise.allSettled(this.records.splice(0).map((id) => this.runtime.removeContainer(id)));
  }
}
