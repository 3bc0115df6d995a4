import type { TestContext } from 'node:test';
import { LineClient } from '../../support/line-client.js';
import { startServer } from '../../support/servers.js';

/**
 * What a restart keeps: starts a server again on `dataDir` (the one before it closed; with
 * `--create-index never`, so a lost index is an error rather than a new empty one) and returns
 * its replies to `lines`. Server and client close when the test ends.
 */
export async function answersAfterRestart(
  t: TestContext,
  dataDir: string,
  lines: string[],
): Promise<string[]> {
  const restarted = await startServer({ storage: 'disk', dataDir, createIndex: 'never' });
  t.after(() => restarted.close());
  const client = await LineClient.open(restarted.port);
  t.after(() => {
    client.close();
  });
  return client.request(...lines);
}
