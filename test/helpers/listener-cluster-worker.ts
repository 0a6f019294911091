// Forked as a cluster worker by test/listener.ts: listen() must refuse to run here.
import * as net from 'node:net';

import { listen } from '../../packages/listener/src/index.ts';

const server = net.createServer();
listen(server, { port: 0, host: '127.0.0.1' }).then(
  (result) => { server.close(); process.send!({ ok: true, result }); },
  (err: NodeJS.ErrnoException) => { process.send!({ ok: false, code: err.code, message: err.message }); },
);
