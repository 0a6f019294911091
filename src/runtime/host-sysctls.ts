// The host's own network namespace has one value per sysctl for every listener on the machine, so
// a pod that lives there (local processes) cannot be given its own: it gets the host's. This reads
// which of a pod's wanted values the host does not have, so the user can be told, never changed.
import { readFileSync } from 'node:fs';

/** The host's value of a sysctl (`net.ipv4.tcp_migrate_req`), or undefined when the kernel has none. */
export function hostSysctl(name: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/${name.replaceAll('.', '/')}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The wanted sysctls whose host value differs, with that value (undefined: the kernel lacks it). */
export function unmetHostSysctls(wanted: Record<string, string>): Record<string, string | undefined> {
  const unmet: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(wanted)) {
    const host = hostSysctl(name);
    if (host !== value) unmet[name] = host;
  }
  return unmet;
}
