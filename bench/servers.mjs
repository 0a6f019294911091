// Baseline servers for bench/listener.mjs, each answering like examples/http-server.ts so that the
// comparison is about the listener and the process layout, not the handler.
//   node bench/servers.mjs plain|addon|cluster PORT
// Prints `ready <pid>[,<pid>...]` (every process whose CPU counts) once it accepts connections.
import cluster from 'node:cluster';
import * as http from 'node:http';

const [mode, portArg] = process.argv.slice(2);
const port = Number(portArg);
const host = '127.0.0.1';
const body = `Hello from ${mode}\n`;
const handler = (_req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
};

if (mode === 'plain') {
  const server = http.createServer(handler);
  server.listen(port, host, () => console.log(`ready ${process.pid}`));
} else if (mode === 'addon') {
  const { createServer } = await import('../dist/src/index.js');
  const server = await createServer(handler, { host, port, prefer: 'addon' });
  if (server.reusePort.path !== 'addon') throw new Error(`expected the addon path, got ${server.reusePort.path}`);
  console.log(`ready ${process.pid}`);
} else if (mode === 'cluster') {
  if (cluster.isPrimary) {
    // Round-robin is Node's default on Linux: the primary accepts and hands sockets to workers,
    // which is why its CPU counts too.
    const workers = [cluster.fork(), cluster.fork()];
    let listening = 0;
    cluster.on('listening', () => {
      if (++listening === workers.length) console.log(`ready ${[process.pid, ...workers.map((w) => w.process.pid)].join(',')}`);
    });
    process.on('SIGTERM', () => {
      for (const w of workers) w.kill('SIGTERM');
      process.exit(0);
    });
  } else {
    http.createServer(handler).listen(port, host);
  }
} else {
  console.error(`usage: node bench/servers.mjs plain|addon|cluster PORT (got ${mode})`);
  process.exit(2);
}
