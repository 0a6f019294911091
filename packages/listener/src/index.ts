// Public API of the part that runs inside every replica: listen on a port shared with the other
// replicas of a pod (same network namespace) through SO_REUSEPORT.
//
// Two paths reach the same socket: 'builtin' is Node's own `reusePort` listen option
// (Node >= 22.12 on 22.x, >= 23.1), 'addon' is native/reuseport.cc, which opens the socket and
// hands its fd to server.listen({ fd }) on older Node. 'auto' picks builtin where it exists.
// Not for cluster workers (see listen()).
export { listen, createServer } from './listen.ts';
export { reusePortSupport } from './support.ts';
export type { ListenOptions, ListenResult, ReusePortPath, ReusePortSupport } from './types.ts';
