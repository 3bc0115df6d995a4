import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineClient } from '../support/line-client.js';
import { SERVINGS, startServer } from '../support/servers.js';

// A cycle check longer than a turn is answered SUSPENDED by the store and decided over later
// turns (ADR 0012). On a socket thread or the native layer the owner executes whole batches
// of many clients' lines, so it must stop at the suspended command and go on once it is
// decided: executing the rest at once answered the check, and every mutation queued behind
// it, ERROR (and hung a socket thread). Found with a 300,000-package chain; 30,000 suffice.
const CHAIN = 30_000;

for (const { threads, io, label } of SERVINGS)
  test(`a cycle check that outlasts a turn gets its reply, and the lines after it theirs, in order (${label})`, async (t) => {
    const server = await startServer({ threads, io });
    t.after(() => server.close());
    const client = await LineClient.open(server.port);
    const other = await LineClient.open(server.port);
    let text = '';
    for (let i = 0; i < CHAIN; i++) text += `INDEX|q${i}|${i > 0 ? `q${i - 1}` : ''}\n`;
    // q0 on the chain's end closes a cycle (FAIL, after a check of the whole chain); z does
    // not (OK); the QUERY sees z.
    text += `INDEX|q0|q${CHAIN - 1}\nINDEX|z|q${CHAIN - 1}\nQUERY|z|\nREMOVE|q0|\n`;
    client.write(text);
    const replies = await client.read(CHAIN + 4, 60_000);
    assert.equal(replies.slice(0, CHAIN).filter((r) => r !== 'OK').length, 0, 'the chain is indexed');
    assert.deepEqual(replies.slice(CHAIN), ['FAIL', 'OK', 'OK', 'FAIL']);
    // Another client is served as usual afterwards.
    assert.deepEqual(await other.request('QUERY|z|', 'QUERY|q0|'), ['OK', 'OK']);
    client.close();
    other.close();
  });
