// The host's firewall as text, to prove that a tool run changed nothing there: `iptables-save` and
// `nft list ruleset` of the host's network namespace, without what changes by itself (counters,
// the "Generated on <date>" comments). Rules are compared as a multiset, never in order: dockerd
// puts its FORWARD jumps back on top whenever it creates a network, and Podman's netavark puts its
// own there too, so the order depends on what ran last on the machine, not on what the tool did.
import { execFile } from 'node:child_process';

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`)) : resolve(stdout)));
  });
}

export function normalizeRules(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, '[0:0]').replace(/counter packets \d+ bytes \d+/g, 'counter'));
}

/** Both views of the host's rules, normalized; rejects when the tools are missing or not allowed (not root). */
export async function hostRules(): Promise<string[]> {
  const [ipt, nft] = await Promise.all([run('iptables-save', []), run('nft', ['list', 'ruleset'])]);
  return [...normalizeRules(ipt).map((l) => `iptables: ${l}`), ...normalizeRules(nft).map((l) => `nft: ${l}`)];
}

/** Lines in `a` but not in `b`, counting duplicates (rule order aside, a multiset difference). */
export function missingFrom(a: string[], b: string[]): string[] {
  const left = new Map<string, number>();
  for (const l of b) left.set(l, (left.get(l) ?? 0) + 1);
  const out: string[] = [];
  for (const l of a) {
    const n = left.get(l) ?? 0;
    if (n > 0) left.set(l, n - 1);
    else out.push(l);
  }
  return out;
}

export interface RuleChange {
  /** Rules in `before` that `after` no longer has (as many times as they went). */
  gone: string[];
  /** Rules in `after` that `before` did not have (as many times as they came). */
  added: string[];
}

/** What changed between two readings, order aside; empty both ways means the same rules. */
export function ruleChange(before: string[], after: string[]): RuleChange {
  return { gone: missingFrom(before, after), added: missingFrom(after, before) };
}
