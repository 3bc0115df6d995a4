import type { TestContext } from 'node:test';
import { LineClient } from '../../tools/support/line-client.js';

// The raw line client is shared with the tools' harnesses (tools/ must not import test/).
export { LineClient };

/** Two clients of the server on `port`, a writer and a reader, closed when the test ends. */
export async function writerAndReader(
  t: TestContext,
  port: number,
): Promise<{ writer: LineClient; reader: LineClient }> {
  const writer = await LineClient.open(port);
  const reader = await LineClient.open(port);
  t.after(() => {
    writer.close();
    reader.close();
  });
  return { writer, reader };
}
