// Prints a subcommand's options table for the README, from its declaration, so the two never
// drift (test/deploy/configuration-docs.test.ts checks every command's table):
//   npx tsx scripts/config-table.ts [COMMAND]      (default serve)
import { COMMANDS } from '../src/cli/commands.js';
import { formatOptionsTable } from '../src/config/command-line.js';

const name = process.argv[2] ?? 'serve';
const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
if (entry === undefined) {
  console.error(`no command "${name}"; one of: ${Object.keys(COMMANDS).join(', ')}`);
  process.exit(2);
}
const { command } = await entry.load();
console.log(formatOptionsTable(command.spec));
