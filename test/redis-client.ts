// examples/redis-client.ts's wire format on bytes, without a server: the command encoding, every
// reply type, and replies cut at every byte (TCP delivers them in arbitrary pieces). The client
// against a real Redis is test/e2e-real-app.ts.
import t from 'tap';
import { encodeCommand, parseReply, RedisReplyError } from '../examples/redis-client.ts';

t.test('commands are arrays of bulk strings, lengths in bytes', async (t) => {
  t.equal(encodeCommand(['AUTH', 'pässword']).toString(), '*2\r\n$4\r\nAUTH\r\n$9\r\npässword\r\n', 'ä is 2 bytes');
  t.equal(encodeCommand(['INCR', 'a b\r\nc']).toString(), '*2\r\n$4\r\nINCR\r\n$6\r\na b\r\nc\r\n', 'CRLF inside an argument is only data');
});

t.test('every reply type, whole and cut at every byte', async (t) => {
  const cases: [string, unknown][] = [
    ['+OK\r\n', 'OK'],
    [':17\r\n', 17],
    ['$5\r\nhällo\r\n'.replace('$5', `$${Buffer.byteLength('hällo')}`), 'hällo'],
    ['$0\r\n\r\n', ''],
    ['$-1\r\n', null],
    ['$4\r\na\r\nb\r\n', 'a\r\nb'],
    ['*3\r\n:1\r\n$1\r\nx\r\n*-1\r\n', [1, 'x', null]],
    ['*0\r\n', []],
  ];
  for (const [wire, want] of cases) {
    const buf = Buffer.from(wire);
    const whole = parseReply(buf);
    t.same(whole?.reply, want, `${JSON.stringify(wire)} parses`);
    t.equal(whole?.next, buf.length, 'and consumes exactly itself');
    for (let cut = 0; cut < buf.length; cut++) {
      if (parseReply(buf.subarray(0, cut)) !== undefined) t.fail(`${JSON.stringify(wire)} cut at ${cut} parsed early`);
    }
  }
  const two = Buffer.from(':1\r\n+PONG\r\n');
  const first = parseReply(two)!;
  t.same([first.reply, parseReply(two, first.next)?.reply], [1, 'PONG'], 'pipelined replies one after the other');
});

t.test('errors keep their kind; garbage is refused', async (t) => {
  const err = parseReply(Buffer.from('-WRONGPASS invalid username-password pair or user is disabled.\r\n'))!.reply;
  t.ok(err instanceof RedisReplyError, 'an error reply is a RedisReplyError');
  t.equal((err as RedisReplyError).kind, 'WRONGPASS');
  t.throws(() => parseReply(Buffer.from('HTTP/1.1 200 OK\r\n')), /not a RESP reply/, 'not Redis on the other end');
});
