import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { test } from 'node:test';
import { startServer } from '../support/servers.js';
import { runCli } from './processes.js';

/** An HTTP server on a free port answering every request with `status`, `type` and `body`. */
async function answering(
  status: number,
  type: string,
  body: string,
): Promise<{ port: number; server: Server }> {
  const server = createServer((_request, response) => {
    response.writeHead(status, { 'content-type': type }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

test('info on an empty index prints "-" for the lists, not an empty cell', async (t) => {
  const server = await startServer(
    { storage: 'memory', admin: true, adminHost: '127.0.0.1', adminPort: 0 },
    { adminToken: null },
  );
  t.after(() => server.close());
  const r = await runCli(['info', '--admin-port', String(server.pkgindex.addresses!.admin!.port)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^packages +0$/m);
  assert.match(r.stdout, /^most depended on +-$/m);
  assert.match(r.stdout, /^largest closures +-$/m);
  assert.match(r.stdout, /^surveyed +\S+$/m, 'an exact survey is not called approximate');
});

test('a query command pointed at something other than an admin port says so (E_BAD_REPLY), exit 2', async (t) => {
  const html = await answering(200, 'text/html', '<html>a web server</html>');
  t.after(() => html.server.close());
  for (const args of [['info'], ['deps', 'a'], ['why', 'a'], ['order', 'a'], ['ls']]) {
    const r = await runCli([...args, '--admin-port', String(html.port)]);
    assert.equal(r.code, 2, `${args[0]!}: ${r.stderr}`);
    assert.match(
      r.stderr,
      new RegExp(
        `http://127\\.0\\.0\\.1:${html.port} answered 200 with something other than JSON; is it a pkgindex admin port\\?.*E_BAD_REPLY`,
        's',
      ),
      args[0],
    );
  }
});

test('an error answer that names no error code is reported with its body (E_BAD_REPLY), exit 2', async (t) => {
  const proxy = await answering(502, 'application/json', '{"detail":"upstream down"}');
  t.after(() => proxy.server.close());
  const r = await runCli(['info', '--admin-port', String(proxy.port)]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /the query API answered 502 without an error code: \{"detail":"upstream down"\}.*E_BAD_REPLY/s,
  );
});

test('an unreadable admin token file does not break the interactive client: a FAIL gets the general reason', async (t) => {
  const server = await startServer(
    { storage: 'memory', admin: true, adminHost: '127.0.0.1', adminPort: 0 },
    { adminToken: null },
  );
  t.after(() => server.close());
  const adminPort = String(server.pkgindex.addresses!.admin!.port);
  const clean: NodeJS.ProcessEnv = { ...process.env };
  delete clean.PKGINDEX_ADMIN_TOKEN;
  delete clean.PKGINDEX_ADMIN_TOKEN_FILE;
  const env = { ...clean, PKGINDEX_ADMIN_TOKEN_FILE: '/nonexistent/pkgindex-token' };
  const session = await runCli(['client', '--port', String(server.port), '--admin-port', adminPort, '-i'], {
    env,
    input: 'index a\nindex b a\nremove a\nquit\n',
  });
  assert.equal(session.code, 0, session.stderr);
  assert.match(session.stdout, /FAIL \(other indexed packages depend on it\)/);
  // The same session with a usable token is explained by the API: the fallback above was the token's doing.
  const explained = await runCli(['client', '--port', String(server.port), '--admin-port', adminPort, '-i'], {
    env: clean,
    input: 'remove a\nquit\n',
  });
  assert.match(explained.stdout, /FAIL \(a is needed by b: b → a\)/);
});
