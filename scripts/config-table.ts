// Prints the README's configuration table from the options table, so the two never drift:
//   npx tsx scripts/config-table.ts
import { OPTIONS } from '../src/config/options.js';

console.log('| Flag | Environment variable | Default | Meaning |');
console.log('| --- | --- | --- | --- |');
for (const o of Object.values(OPTIONS)) {
  const value = typeof o.default === 'boolean' ? '' : ' <value>';
  console.log(`| \`${o.flag}${value}\` | \`${o.env}\` | \`${JSON.stringify(o.default)}\` | ${o.help} |`);
}
