// Public library entry: what app code imports from 'reuseport-pod'.
export { listen, createServer, reusePortSupport } from './listener/index.ts';
export type { ListenOptions, ListenResult, ReusePortPath, ReusePortSupport } from './listener/index.ts';
