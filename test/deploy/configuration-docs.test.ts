import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ADMIN_TOKEN_ENV } from '../../src/admin/auth.js';
import { COMMANDS } from '../../src/cli/commands.js';
import { formatOptionsTable } from '../../src/config/command-line.js';
import { OPTIONS, type Option } from '../../src/config/options.js';

/** The README (its options tables), from the repository root, where `npm test` runs. */
const DOC = 'README.md';

/** The text between `<!-- options: NAME ... -->` and `<!-- /options -->`, or null. */
function optionsBlock(markdown: string, name: string): string | null {
  const start = new RegExp(`^<!-- options: ${name}[ (].*-->$`, 'm').exec(markdown);
  if (start === null) return null;
  const from = start.index + start[0].length + 1;
  const end = markdown.indexOf('\n<!-- /options -->', from);
  return end < 0 ? null : markdown.slice(from, end);
}

for (const name of Object.keys(COMMANDS))
  test(`${DOC} has the options table of \`pkgindex ${name}\`, as generated from its declaration`, async () => {
    const { command } = await COMMANDS[name]!.load();
    const block = optionsBlock(readFileSync(DOC, 'utf8'), name);
    assert.notEqual(
      block,
      null,
      `${DOC} has no <!-- options: ${name} --> ... <!-- /options --> block; add the output of ` +
        `\`npx tsx scripts/config-table.ts ${name}\` between those markers`,
    );
    assert.equal(
      block,
      formatOptionsTable(command.spec),
      `the table is out of date: replace it with the output of \`npx tsx scripts/config-table.ts ${name}\``,
    );
  });

test(`every option of serve has a row in ${DOC} with its flag and environment variable`, () => {
  const rows = optionsBlock(readFileSync(DOC, 'utf8'), 'serve') ?? '';
  for (const option of Object.values(OPTIONS as Record<string, Option>))
    assert.ok(rows.includes(`| \`${option.flag}`) && rows.includes(`| \`${option.env}\` |`), option.flag);
});

test(`${DOC} documents the environment-only admin token`, () => {
  assert.match(optionsBlock(readFileSync(DOC, 'utf8'), 'serve') ?? '', new RegExp(`\`${ADMIN_TOKEN_ENV}\``));
});
