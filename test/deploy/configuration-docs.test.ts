import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ADMIN_TOKEN_ENV } from '../../src/admin/auth.js';
import { OPTIONS, type Option } from '../../src/config/options.js';

/** The README (its Configuration table), from the repository root, where `npm test` runs. */
const DOC = 'README.md';

/** The cells of every table row in the document. */
function tableRows(markdown: string): string[][] {
  return markdown
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|\s*-/.test(line))
    .map((line) =>
      line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim()),
    );
}

test(`every option in OPTIONS has a row in ${DOC} with its flag and environment variable`, () => {
  const rows = tableRows(readFileSync(DOC, 'utf8'));
  const missing: string[] = [];
  for (const option of Object.values(OPTIONS as Record<string, Option>)) {
    const row = rows.find((cells) => cells[0]?.startsWith(`\`${option.flag}`) === true);
    if (row === undefined) missing.push(`${option.flag}: no row whose first cell is \`${option.flag}…\``);
    else if (row[1] !== `\`${option.env}\``)
      missing.push(`${option.flag}: second cell should be \`${option.env}\``);
  }
  assert.deepEqual(missing, [], `add these to the table in ${DOC}`);
});

test(`${DOC} documents the environment-only admin token`, () => {
  const rows = tableRows(readFileSync(DOC, 'utf8'));
  assert.ok(rows.some((cells) => cells[1] === `\`${ADMIN_TOKEN_ENV}\``));
});
