// proc-net.ts against real sockets of this process: what /proc/net/tcp{,6} says about them, and
// which of them serve a pod published on one address.
import * as net from 'node:net';
import t from 'tap';
import { addressBytes, countListening, listeners, serves, treeListensOn } from '../src/runtime/proc-net.ts';
import { loadAddon } from '@reuseport-pod/listener/addon';
import { freePort } from './helpers/http-client.ts';

function listen(host: string, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject).listen({ host, port }, () => resolve(server));
  });
}

t.test('addresses as bytes: IPv4, IPv6 shorthand, IPv4-mapped', async (t) => {
  t.equal(addressBytes('127.0.0.2')?.toString('hex'), '7f000002');
  t.equal(addressBytes('::1')?.toString('hex'), '0'.repeat(31) + '1');
  t.equal(addressBytes('2001:db8::1:2')?.toString('hex'), '20010db8000000000000000000010002');
  t.equal(addressBytes('::ffff:10.0.0.1')?.toString('hex'), '0a000001', 'a mapped address is its IPv4 one');
  t.equal(addressBytes('localhost'), undefined, 'a name is not an address');
});

t.test("this process's listeners, and which serve a pod's address", async (t) => {
  const port = await freePort();
  const servers = [await listen('127.0.0.3', port), await listen('::1', port)];
  t.teardown(() => servers.forEach((s) => s.close()));
  const found = listeners(port);
  t.same(found.map((l) => l.address.toString('hex')).sort(), ['0'.repeat(31) + '1', '7f000003'], 'both, with their addresses');
  t.same(found.filter((l) => serves(l, '127.0.0.3')).length, 1, 'one serves 127.0.0.3');
  t.same(found.filter((l) => serves(l, '127.0.0.1')).length, 0, 'none serves 127.0.0.1');
  t.same(found.filter((l) => serves(l, undefined)).length, 0, 'none serves every address');
  t.equal(treeListensOn(process.pid, port), true, 'this process holds them');
  t.equal(treeListensOn(process.pid, port, (l) => serves(l, '127.0.0.1')), false, 'but none on 127.0.0.1');

  const wildcard = await listen('0.0.0.0', await freePort());
  t.teardown(() => wildcard.close());
  const [any] = listeners((wildcard.address() as net.AddressInfo).port);
  t.ok(any && serves(any, '127.0.0.1') && serves(any, undefined), '0.0.0.0 serves every address');
});

t.test("countListening counts a namespace's listeners on a port as /pause --listeners does", async (t) => {
  const port = await freePort();
  const before = countListening(port, process.pid);
  t.equal(before, 0, 'none yet');
  const servers = [await listen('127.0.0.3', port), await listen('::1', port)];
  t.teardown(() => servers.forEach((s) => s.close()));
  t.equal(countListening(port, process.pid), 2, 'tcp and tcp6 both counted, whatever the address');
  t.equal(countListening(port + 1 > 65535 ? port - 1 : port + 1, process.pid), 0, 'another port: none');
  t.equal(countListening(port, 0), undefined, 'no such pid: unknown, not zero');
  t.equal(countListening(port, 2 ** 22 + 1), undefined, 'a pid that is not running: unknown, not zero');
});

t.test("the addon's sock_diag count equals what /proc/<pid>/net/tcp{,6} list", async (t) => {
  const { binding, error } = loadAddon();
  if (!binding) return t.fail(`the addon does not load: ${error.message}`);
  t.type(binding.countListeners, 'function', 'the built addon has countListeners');
  const port = await freePort();
  const servers = [await listen('127.0.0.3', port), await listen('::1', port), await listen('0.0.0.0', port).catch(() => undefined)].filter((s) => s !== undefined);
  t.teardown(() => servers.forEach((s) => s.close()));
  t.equal(binding.countListeners!(process.pid, port), listeners(port, process.pid).length, 'the same count as /proc');
  t.equal(binding.countListeners!(process.pid, port), servers.length, 'one per listening socket');
  t.throws(() => binding.countListeners!(2 ** 22 + 1, port), { code: 'ENOENT', syscall: 'open' }, 'no such process: ENOENT');
});
