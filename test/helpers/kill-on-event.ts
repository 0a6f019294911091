// Runs the built CLI and SIGKILLs it at the first engine event that matches, the way a user's
// Ctrl-\ or an OOM kill lands between two steps of a command. The events are read with
// `docker events --since <before the CLI started>`, so an event the CLI causes at once is not missed.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { cliPath } from './cli.ts';

export interface EngineEventLine {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
}

export interface KillResult {
  /** The event the CLI was killed at; undefined when the CLI ended before any matched. */
  event?: EngineEventLine;
  code: number | null;
  stderr: string;
}

export interface EventMatch {
  type: 'container' | 'network';
  action: string;
  name: string;
}

export async function killOnEvent(args: string[], match: EventMatch, env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<KillResult> {
  const since = (Date.now() / 1000 - 1).toFixed(3);
  const events = spawn('docker', ['events', '--since', since, '--format', '{{json .}}', '--filter', `type=${match.type}`, '--filter', `event=${match.action}`], { stdio: ['ignore', 'pipe', 'ignore'] });
  const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let event: EngineEventLine | undefined;
  const lines = createInterface({ input: events.stdout });
  lines.on('line', (line) => {
    if (event) return;
    try {
      const e = JSON.parse(line) as EngineEventLine;
      if (e.Type === match.type && e.Action === match.action && e.Actor.Attributes['name']?.replace(/^\//, '') === match.name) {
        event = e;
        child.kill('SIGKILL');
      }
    } catch {
      // not an event line
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(timer);
  events.kill();
  lines.close();
  return event ? { event, code, stderr } : { code, stderr };
}
