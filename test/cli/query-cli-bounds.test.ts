/**
 * The query commands on answers the server cut at --query-max-visits: each still prints what it
 * got and exits 0, and says on stderr that the answer is partial (the JSON says `truncated`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { exchange } from '../admin/harness.js';
import { spawnServer, type ServerProcess } from '../support/servers.js';
import { runCli } from './processes.js';

const TOKEN = 'query-cli-bounds-token-0123456789';
// p0 ← p1 ← ... ← p299: 600 packages and edges to walk, the bound is 100; and hub, with 150
// direct dependencies.
const CHAIN = [
  ...Array.from({ length: 300 }, (_, i) => (i === 0 ? 'INDEX|p0|' : `INDEX|p${i}|p${i - 1}`)),
  `INDEX|hub|${Array.from({ length: 150 }, (_, i) => `p${i}`).join(',')}`,
];

describe('pkgindex deps, order, why on answers cut at the server’s bound', () => {
  let server: ServerProcess;
  const env = { ...process.env, PKGINDEX_ADMIN_TOKEN: TOKEN };
  const cli = (...args: string[]) => runCli([...args, '--admin-port', String(server.adminPort)], { env });

  before(async () => {
    server = await spawnServer({
      env: { PKGINDEX_ADMIN_TOKEN: TOKEN },
      args: ['--query-max-visits', '100'],
    });
    assert.deepEqual(
      await exchange(server.port, CHAIN),
      CHAIN.map(() => 'OK'),
    );
  });
  after(async () => {
    await server.stop();
  });

  test('deps --transitive: the names reached, and a note that the list may be incomplete', async () => {
    const r = await cli('deps', '--transitive', 'p299');
    assert.equal(r.code, 0, r.stderr);
    const names = r.stdout.split('\n').slice(0, -1);
    assert.ok(names.length > 0 && names.length < 299, `${names.length} names`);
    assert.ok(names.every((n) => /^p\d+$/.test(n)));
    // What the bound is, and how to get the whole answer: it is the server's setting.
    assert.equal(
      r.stderr,
      '(the list may be incomplete: the walk stopped at the server’s --query-max-visits, 100 packages plus edges; ' +
        'for the whole answer, run the server with a larger --query-max-visits (PKGINDEX_QUERY_MAX_VISITS))\n',
    );
    const json = JSON.parse((await cli('deps', '--transitive', '--json', 'p299')).stdout) as {
      items: string[];
      truncated: boolean;
    };
    assert.equal(json.truncated, true);
    assert.deepEqual(json.items, names);
  });

  // Cut by the visits, not by --depth (a depth cut is what was asked for, not a truncation).
  test('deps --tree: the tree drawn so far, and where it was cut', async () => {
    const r = await cli('deps', '--tree', '--depth', '1', 'hub');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^hub …\n├── p0\n├── p1 …\n├── p10 …\n/);
    assert.ok(r.stdout.split('\n').length < 150, r.stdout);
    // Cut by the server's visits, not by --max-nodes: the advice is the server's setting.
    assert.match(
      r.stderr,
      /^\(the tree is cut at \d+ packages: the walk stopped at the server’s --query-max-visits, 100 packages plus edges; for the whole answer, run the server with a larger --query-max-visits \(PKGINDEX_QUERY_MAX_VISITS\)\)\n$/,
    );
    // Asked as JSON, the flag is in the answer and nothing goes to stderr.
    const json = await cli('deps', '--tree', '--depth', '1', '--json', 'hub');
    assert.equal((JSON.parse(json.stdout) as { truncated: boolean }).truncated, true);
    assert.equal(json.stderr, '');
  });

  test('order: a partial install order, said to be partial', async () => {
    const r = await cli('order', 'p299');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stderr,
      '(the order is partial: each listed package comes after its dependencies; the walk stopped at the server’s --query-max-visits, 100 packages plus edges; for the whole answer, run the server with a larger --query-max-visits (PKGINDEX_QUERY_MAX_VISITS))\n',
    );
    const json = JSON.parse((await cli('order', '--json', 'p299')).stdout) as {
      items: string[];
      truncated: boolean;
    };
    assert.equal(json.truncated, true);
    assert.ok(json.items.length < 300, `${json.items.length} items`);
  });

  test('why: a chain cut at the bound says so', async () => {
    const r = await cli('why', 'p150');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^p150 is needed by p\d+: .* \(chain cut at the server’s bound\)\n$/);
    const json = JSON.parse((await cli('why', '--json', 'p150')).stdout) as { complete: boolean };
    assert.equal(json.complete, false);
  });
});
