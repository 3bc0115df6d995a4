import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesByFunction, main } from '../../tools/profile/allocations.js';
import { ToolUsageError } from '../../tools/support/errors.js';

const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber });

test('allocations: self bytes are summed per function across the tree, and in all', () => {
  const head = {
    callFrame: frame('(root)'),
    selfSize: 0,
    children: [
      {
        callFrame: frame('execute', 'file:///x/dist/src/store/a.js', 9),
        selfSize: 100,
        children: [{ callFrame: frame('slice'), selfSize: 40, children: [] }],
      },
      { callFrame: frame('execute', 'file:///x/dist/src/store/a.js', 9), selfSize: 20, children: [] },
      { callFrame: frame('', 'file:///y/node_modules/lib/b.js', 0), selfSize: 5, children: [] },
    ],
  };
  const { total, byFunction } = bytesByFunction(head);
  assert.equal(total, 165);
  assert.deepEqual(
    [...byFunction].sort((a, b) => b[1] - a[1]),
    [
      ['execute dist/src/store/a.js:10', 120],
      ['slice', 40],
      ['(anonymous) node_modules/lib/b.js:1', 5],
    ],
  );
});

test('allocations: an unknown option is a usage error that shows the usage', async () => {
  await assert.rejects(
    main(['--nope']),
    (err: unknown) => err instanceof ToolUsageError && /Usage:/.test(err.message),
  );
});
