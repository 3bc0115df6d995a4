// Prints the runbook's error-code table from the catalogue, so the two never drift:
//   npx tsx scripts/error-table.ts
import { ERRORS, type CatalogueEntry } from '../src/errors.js';

const entries: [string, CatalogueEntry][] = Object.entries(ERRORS);
const cell = (text: string): string => text.replaceAll('|', '\\|');

console.log('| Code | Name | HTTP status | Exit code | Meaning |');
console.log('| --- | --- | --- | --- | --- |');
for (const [code, e] of entries) {
  const meaning =
    (e.kind === 'reply' ? `Answered \`ERROR\`: ${e.meaning}.` : e.meaning) +
    (e.reserved === undefined ? '' : ` Reserved: ${e.reserved}.`);
  console.log(`| \`${code}\` | ${e.name} | ${e.status ?? '—'} | ${e.exitCode ?? '—'} | ${cell(meaning)} |`);
}
