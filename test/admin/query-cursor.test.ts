import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { LineClient } from '../support/line-client.js';
import { get, startInProcess, type InProcess } from './harness.js';

type Json = Record<string, unknown>;

const LETTERS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
const NAMES = LETTERS.flatMap((x) => LETTERS.map((y) => x + y));
const write = fc.record({ remove: fc.boolean(), name: fc.constantFrom(...NAMES) });

/**
 * Keyset pagination against a model: whatever is indexed or removed between two pages, the
 * pages list names in strictly ascending order, every name that stayed indexed the whole
 * time, and nothing that was never indexed.
 */
describe('query API cursors under concurrent writes', () => {
  let s: InProcess;
  let client: LineClient;
  let run = 0;
  before(async () => {
    s = await startInProcess();
    client = await LineClient.open(s.port);
  });
  after(async () => {
    client.close();
    await s.close();
  });

  async function send(line: string): Promise<string> {
    const [reply] = await client.request(line);
    return reply!;
  }

  for (const [label, listPath, itemName] of [
    [
      'GET /v1/packages?prefix=',
      (p: string) => `/v1/packages?prefix=${p}-`,
      (i: unknown) => (i as Json).name as string,
    ],
    [
      'GET /v1/packages/{hub}/dependents',
      (p: string) => `/v1/packages/${p}-hub/dependents`,
      (i: unknown) => i as string,
    ],
  ] as const)
    test(`${label}: pages never repeat or skip a package while others come and go`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.subarray(NAMES),
          fc.integer({ min: 1, max: 7 }),
          fc.array(fc.array(write, { maxLength: 6 }), { minLength: 1, maxLength: 40 }),
          async (initial, limit, gaps) => {
            const p = `r${run++}`;
            const present = new Set<string>();
            assert.equal(await send(`INDEX|${p}-hub|`), 'OK');
            for (const n of initial) {
              assert.equal(await send(`INDEX|${p}-${n}|${p}-hub`), 'OK');
              present.add(n);
            }
            const stable = new Set(present);
            const ever = new Set(present);
            const listed: string[] = [];
            let cursor: string | null = '';
            for (let page = 0; cursor !== null; page++) {
              const base = listPath(p);
              const query = `limit=${limit}${cursor === '' ? '' : `&cursor=${cursor}`}`;
              const r = await get(s.adminPort, `${base}${base.includes('?') ? '&' : '?'}${query}`);
              assert.equal(r.status, 200, r.text);
              const body = JSON.parse(r.text) as { items: unknown[]; next: string | null };
              for (const item of body.items) {
                const name = itemName(item);
                if (name !== `${p}-hub`) listed.push(name.slice(p.length + 1));
              }
              cursor = body.next;
              for (const w of gaps[page % gaps.length] ?? []) {
                if (w.remove) {
                  assert.equal(await send(`REMOVE|${p}-${w.name}|`), 'OK');
                  present.delete(w.name);
                  stable.delete(w.name);
                } else {
                  assert.equal(await send(`INDEX|${p}-${w.name}|${p}-hub`), 'OK');
                  present.add(w.name);
                  ever.add(w.name);
                }
              }
            }
            for (let i = 1; i < listed.length; i++)
              assert.ok(listed[i - 1]! < listed[i]!, `ascending, no repeats: ${listed.join(' ')}`);
            for (const n of stable) assert.ok(listed.includes(n), `${n} stayed indexed but was skipped`);
            for (const n of listed) assert.ok(ever.has(n), `${n} was never indexed`);
          },
        ),
        { numRuns: 25 },
      );
    });
});
