import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Verb } from '../../src/protocol/command.js';
import { COMMAND_ROWS, rowOfVerb } from '../../src/server/stats.js';

test('each verb is counted in its own row of the command counters, the one metrics label with it', () => {
  for (const verb of Object.values(Verb)) assert.equal(COMMAND_ROWS[rowOfVerb(verb)], verb);
});
