// Public library entry: what app code imports from 'reuseport-pod'. The listener is its own
// package (@reuseport-pod/listener, with one dependency) so that a replica's image needs nothing
// of the launcher; this re-export keeps `import { listen } from 'reuseport-pod'` working.
export { listen, createServer, reusePortSupport } from '@reuseport-pod/listener';
export type { ListenOptions, ListenResult, ReusePortPath, ReusePortSupport } from '@reuseport-pod/listener';
