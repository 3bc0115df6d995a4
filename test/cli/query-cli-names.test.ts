import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { exchange } from '../admin/harness.js';
import { spawnServer, type ServerProcess } from '../support/servers.js';
import { runCli } from './processes.js';

// `.` and `..` are valid names (README: letters, digits and `. _ + - @ / :`), and so are the
// names of the query API's own paths: each must be asked about as itself.
const FEED = ['INDEX|.|', 'INDEX|..|', 'INDEX|why|', 'INDEX|install-order|', 'INDEX|b|.', 'INDEX|c|..'];

describe('query commands on names a URL would normalise away', () => {
  let server: ServerProcess;
  // The port before `--`, after which every argument is a name.
  const cli = (command: string, ...args: string[]) =>
    runCli([command, '--admin-port', String(server.adminPort), ...args]);

  before(async () => {
    server = await spawnServer();
    assert.deepEqual(
      await exchange(server.port, FEED),
      FEED.map(() => 'OK'),
    );
  });
  after(async () => {
    await server.stop();
  });

  test('why, order and deps answer about "." and "..", not another package or path', async () => {
    const why = await cli('why', '--json', '--', '.');
    assert.equal(why.code, 1, why.stderr);
    assert.equal((JSON.parse(why.stdout) as { name: string }).name, '.');
    const order = await cli('order', '--json', '--', '.');
    assert.equal(order.code, 0, order.stderr);
    assert.equal((JSON.parse(order.stdout) as { name: string }).name, '.');
    const dependents = await cli('deps', '-r', '--', '.');
    assert.equal(dependents.code, 0, dependents.stderr);
    assert.equal(dependents.stdout, 'b\n');
    const up = await cli('deps', '-r', '--', '..');
    assert.equal(up.code, 0, up.stderr);
    assert.equal(up.stdout, 'c\n');
  });
});
