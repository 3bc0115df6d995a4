/**
 * How the admin server turns a thrown error into its JSON answer (errorReply): the catalogue's
 * status and message for a pkgindex error; for anything else (a bug, a system error) a 500 that
 * hides the internals from the client and logs them, with the error's own code when it has one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createError } from '../../src/errors.js';
import { errorReply, httpStatusOf } from '../../src/admin/http-errors.js';
import { memoryLogger } from './harness.js';

const REQUEST = { method: 'GET', url: '/v1/packages/a', peer: '127.0.0.1' };

function body(reply: { body: unknown }): { error: string; message: string } {
  return JSON.parse(reply.body as string) as { error: string; message: string };
}

test('a bug (a plain Error) answers 500 E_INTERNAL without its message, which goes to the log', () => {
  const { log, events } = memoryLogger();
  const reply = errorReply(new Error('secret internals: /var/lib/x'), REQUEST, log);
  assert.equal(reply.status, 500);
  assert.deepEqual(body(reply), { error: 'E_INTERNAL', message: 'internal error; see the server log' });
  assert.equal(events.length, 1);
  assert.equal(events[0]!.msg, 'admin request failed');
  assert.equal(events[0]!.level, 50);
  assert.equal(events[0]!.code, 'E_INTERNAL');
  assert.match(JSON.stringify(events[0]!.err), /secret internals/);
});

test('a system error keeps its own code in the answer, still 500 and still without its message', () => {
  const { log, events } = memoryLogger();
  const err = Object.assign(new Error('EACCES: permission denied, open /data/x'), { code: 'EACCES' });
  const reply = errorReply(err, REQUEST, log);
  assert.equal(httpStatusOf(err), 500);
  assert.equal(reply.status, 500);
  assert.deepEqual(body(reply), { error: 'EACCES', message: 'internal error; see the server log' });
  assert.equal(events[0]!.code, 'EACCES');
});

test('a thrown non-Error value is a 500 too', () => {
  const { log } = memoryLogger();
  const reply = errorReply('a string', REQUEST, log);
  assert.equal(reply.status, 500);
  assert.deepEqual(body(reply), { error: 'E_INTERNAL', message: 'internal error; see the server log' });
});

test('a refusal keeps its message and is not logged as a failure; 401 asks for the bearer token', () => {
  const { log, events } = memoryLogger();
  const bad = errorReply(createError('E_ADMIN_BAD_REQUEST', 'limit must be 1..1000'), REQUEST, log);
  assert.equal(bad.status, 400);
  assert.deepEqual(body(bad), { error: 'E_ADMIN_BAD_REQUEST', message: 'limit must be 1..1000' });
  assert.equal(events.length, 0);
  const unauthorized = errorReply(
    createError('E_ADMIN_UNAUTHORIZED', 'a bearer token is needed'),
    REQUEST,
    log,
  );
  assert.equal(unauthorized.status, 401);
  assert.equal(unauthorized.headers['www-authenticate'], 'Bearer realm="pkgindex-admin"');
  assert.equal(events.length, 1);
  assert.equal(events[0]!.level, 40);
  assert.equal(events[0]!.peer, '127.0.0.1');
});
