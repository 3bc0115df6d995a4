/**
 * The interactive prompt on a real terminal: the client runs in a pseudo-terminal (see
 * startCli's `terminal` option), so readline is in raw mode and Ctrl-C and Ctrl-D arrive as the
 * bytes a user's keyboard sends, not as signals.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServer, type ServerProcess } from '../support/servers.js';
import { startCli, terminalUnavailable } from './processes.js';

const CTRL_C = '\x03';
const CTRL_D = '\x04';
const PROMPT = /pkgindex> /;

const unavailable = terminalUnavailable();
let server: ServerProcess | undefined;
let home: string;
before(async () => {
  home = mkdtempSync(join(tmpdir(), 'pkgindex-prompt-'));
  if (unavailable === null) server = await spawnServer({ admin: false });
});
after(async () => {
  await server?.stop();
  rmSync(home, { recursive: true, force: true });
});

test(
  'Ctrl-C abandons a half-typed line and keeps the prompt; on an empty line it hints; Ctrl-D exits 0',
  { skip: unavailable === null ? false : `no pseudo-terminal to drive: ${unavailable}` },
  async () => {
    const session = startCli(['client', '--host', '127.0.0.1', '--port', String(server!.port)], {
      terminal: true,
      env: { ...process.env, PKGINDEX_HISTORY: join(home, 'history') },
    });
    await session.waitFor('stdout', PROMPT);
    session.write('index half');
    await session.waitFor('stdout', /index half/);
    session.write(CTRL_C);
    await session.waitFor('stdout', PROMPT, { count: 2 });
    assert.match(session.stdout(), /index half\^C\r\n/);

    session.write(CTRL_C);
    await session.waitFor('stdout', /to exit, press Ctrl-D or type quit/);
    await session.waitFor('stdout', PROMPT, { count: 3 });

    // The abandoned line was never sent: `half` is not indexed.
    session.send('query half');
    await session.waitFor('stdout', /FAIL \(not indexed\)/);
    await session.waitFor('stdout', PROMPT, { count: 4 });
    session.write(CTRL_D);
    assert.equal(await session.exited(), 0, session.stdout());
  },
);
