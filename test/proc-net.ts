// proc-net.ts against real sockets of this process: what /proc/net/tcp{,6} says about them, and
// which of them serve a pod published on one address.
import * as net from 'node:net';
import t from 'tap';
import { addressBytes, listeners, serves, treeListensOn } from '../src/runtime/proc-net.ts';
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
