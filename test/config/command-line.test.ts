import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { COMMANDS } from '../../src/cli/commands.js';
import {
  formatHelp,
  formatOptionsTable,
  option,
  parseCommandLine,
  type CommandSpec,
} from '../../src/config/command-line.js';
import { flagBool, integer, text } from '../../src/config/parsers.js';
import { isPkgIndexError } from '../../src/errors.js';

const SPEC = {
  description: 'Does a thing.',
  options: {
    num: option({
      flag: '--num',
      env: 'PKGINDEX_T_NUM',
      value: 'N',
      default: 7,
      help: 'A number.',
      parse: integer(0, 1000),
    }),
    name: option({ flag: '--name', short: '-n', default: 'x', help: 'A name.', parse: text }),
    on: option({ flag: '--on', env: 'PKGINDEX_T_ON', default: false, help: 'A switch.', parse: flagBool }),
  },
  positionals: [{ name: 'WORD', help: 'Words.', optional: true, variadic: true }],
} satisfies CommandSpec;

function parse(argv: readonly string[], env: NodeJS.ProcessEnv = {}, spec: CommandSpec = SPEC) {
  const parsed = parseCommandLine('thing', spec, argv, env);
  assert.equal(parsed.help, false);
  return parsed;
}

describe('parseCommandLine against a model', () => {
  type Item =
    | { kind: 'num'; value: number; style: 'space' | 'eq' }
    | { kind: 'name'; value: string; style: 'space' | 'eq' | 'short' | 'attached' }
    | { kind: 'on'; value: boolean; style: 'bare' | 'eq' }
    | { kind: 'word'; value: string };

  const item: fc.Arbitrary<Item> = fc.oneof(
    fc.record({
      kind: fc.constant('num' as const),
      value: fc.integer({ min: 0, max: 1000 }),
      style: fc.constantFrom('space' as const, 'eq' as const),
    }),
    fc.record({
      kind: fc.constant('name' as const),
      value: fc.stringMatching(/^[a-z-][a-z0-9=-]{0,6}$/),
      style: fc.constantFrom('space' as const, 'eq' as const, 'short' as const, 'attached' as const),
    }),
    fc.record({
      kind: fc.constant('on' as const),
      value: fc.boolean(),
      style: fc.constantFrom('bare' as const, 'eq' as const),
    }),
    fc.record({
      kind: fc.constant('word' as const),
      value: fc.stringMatching(/^([a-z0-9][a-z0-9+.-]{0,6}|-)$/),
    }),
  );

  function render(i: Item): string[] {
    switch (i.kind) {
      case 'num':
        return i.style === 'eq' ? [`--num=${i.value}`] : ['--num', String(i.value)];
      case 'name':
        if (i.style === 'eq') return [`--name=${i.value}`];
        if (i.style === 'attached') return [`-n${i.value}`];
        return [i.style === 'short' ? '-n' : '--name', i.value];
      case 'on':
        return i.style === 'bare' && i.value ? ['--on'] : [`--on=${i.value}`];
      case 'word':
        return [i.value];
    }
  }

  test('a flag wins over its variable, which wins over the default; the last flag wins; words keep their order', () => {
    fc.assert(
      fc.property(
        fc.array(item, { maxLength: 12 }),
        fc.record({ num: fc.integer({ min: 0, max: 1000 }), on: fc.boolean() }, { requiredKeys: [] }),
        fc.array(fc.stringMatching(/^-[a-z-]{0,5}$/), { maxLength: 3 }),
        (items, envValues, afterDashes) => {
          const env: NodeJS.ProcessEnv = {};
          if (envValues.num !== undefined) env.PKGINDEX_T_NUM = String(envValues.num);
          if (envValues.on !== undefined) env.PKGINDEX_T_ON = envValues.on ? 'yes' : '0';
          const argv = [...items.flatMap(render), ...(afterDashes.length > 0 ? ['--', ...afterDashes] : [])];
          const last = (kind: Item['kind']): unknown => items.filter((i) => i.kind === kind).at(-1)?.value;
          const { values, args } = parse(argv, env);
          assert.deepEqual(values, {
            num: last('num') ?? envValues.num ?? 7,
            name: last('name') ?? 'x',
            on: last('on') ?? envValues.on ?? false,
          });
          assert.deepEqual(args, [
            ...items.filter((i) => i.kind === 'word').map((i) => i.value),
            ...afterDashes,
          ]);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('parseCommandLine: help and mistakes', () => {
  test('-h or --help anywhere before -- and not as a value asks for help, even beside a bad option', () => {
    assert.deepEqual(parseCommandLine('thing', SPEC, ['--bogus', '-h'], {}), { help: true });
    assert.deepEqual(parseCommandLine('thing', SPEC, ['--num', 'x', '--help'], {}), { help: true });
    assert.deepEqual(parse(['--', '--help']).args, ['--help']);
    assert.equal(parse(['--name', '-h']).values.name, '-h');
  });

  test('an unknown option, a missing value and a bad value name the flag or variable (E_CONFIG)', () => {
    assert.throws(
      () => parse(['--bogus']),
      (e: unknown) =>
        isPkgIndexError(e, 'E_CONFIG') &&
        e.message === 'unknown option --bogus; run `pkgindex thing --help` for the list',
    );
    assert.throws(() => parse(['--num']), /^ConfigError: --num needs a value; run `pkgindex thing --help`$/);
    assert.throws(() => parse(['--num', '5000']), /--num must be a whole number from 0 to 1000, got "5000"/);
    assert.throws(() => parse(['--num=-1']), /--num must be a whole number from 0 to 1000, got "-1"/);
    assert.throws(() => parse(['-n', ' ']), /-n must not be empty/);
    assert.throws(() => parse(['--on=maybe']), /--on must be true or false, got "maybe"/);
    assert.throws(
      () => parse([], { PKGINDEX_T_NUM: 'lots' }),
      /environment variable PKGINDEX_T_NUM must be a whole number from 0 to 1000, got "lots"/,
    );
  });

  test('a switch takes no value after it, and short switches do not bundle', () => {
    assert.deepEqual(parse(['--on', 'word']).args, ['word']);
    const spec: CommandSpec = {
      description: '',
      options: {
        i: option({ flag: '--interactive', short: '-i', default: false, help: '', parse: flagBool }),
      },
    };
    assert.equal(parse(['-i'], {}, spec).values.i, true);
    assert.throws(() => parse(['-ix'], {}, spec), /unknown option -ix;/);
  });

  test('missing and extra positional arguments are usage errors showing the usage line', () => {
    const spec: CommandSpec = {
      description: '',
      options: {},
      positionals: [
        { name: 'FROM', help: '' },
        { name: 'TO', help: '', optional: true },
      ],
    };
    assert.throws(
      () => parse([], {}, spec),
      (e: unknown) =>
        isPkgIndexError(e, 'E_USAGE') &&
        e.message === 'missing FROM; usage: pkgindex thing [options] FROM [TO]',
    );
    assert.deepEqual(parse(['a'], {}, spec).args, ['a']);
    assert.throws(
      () => parse(['a', 'b', 'c', 'd'], {}, spec),
      /^UsageError: unexpected arguments "c" "d"; usage:/,
    );
  });

  test('stray paths are read as the path options not given, when that is the one way to read them', () => {
    const spec: CommandSpec = {
      description: '',
      options: {
        from: option({ flag: '--from', value: 'FILE', default: '', help: '', parse: text }),
        name: option({ flag: '--name', default: '', help: '', parse: text }),
        dataDir: option({ flag: '--data-dir', value: 'DIR', default: '', help: '', parse: text }),
      },
    };
    const message = (argv: string[]): string => {
      try {
        parse(argv, {}, spec);
      } catch (e) {
        assert.ok(isPkgIndexError(e, 'E_USAGE'), String(e));
        return e.message;
      }
      assert.fail(`${argv.join(' ')} parsed`);
    };
    // In the order the command declares them; --name takes no path.
    assert.equal(
      message(['b.bak', '/var/x']),
      'unexpected arguments "b.bak" "/var/x"; did you mean --from "b.bak" --data-dir "/var/x"? ' +
        'usage: pkgindex thing [options]; run `pkgindex thing --help` for the options',
    );
    // One given already: the other is what the stray one meant.
    assert.match(message(['--from', 'b.bak', '/var/x']), /; did you mean --data-dir "\/var\/x"\? usage:/);
    // One stray path, two options it could be: no guess.
    assert.doesNotMatch(message(['/var/x']), /did you mean/);
    assert.doesNotMatch(message(['a', 'b', 'c']), /did you mean/);
    assert.doesNotMatch(message(['-', 'x']), /did you mean/);
  });

  test('a flag declared twice is a programming error, caught at the first parse', () => {
    const spec: CommandSpec = {
      description: '',
      options: {
        a: option({ flag: '--port', default: 1, help: '', parse: integer(0, 9) }),
        b: option({ flag: '--port', default: 1, help: '', parse: integer(0, 9) }),
      },
    };
    assert.throws(() => parseCommandLine('thing', spec, ['--help'], {}), /option --port is declared twice/);
  });
});

describe('help and README table', () => {
  test('the help shows usage, arguments, each option with its variable and default, and -h', () => {
    assert.equal(
      formatHelp('thing', SPEC),
      `Usage: pkgindex thing [options] [WORD ...]

Does a thing.

Arguments:
  [WORD ...]
      Words.

Options:
  --num <N>
      A number.
      env PKGINDEX_T_NUM, default 7
  -n, --name <value>
      A name.
      default "x"
  --on
      A switch.
      env PKGINDEX_T_ON, default false
  -h, --help
      Print this help.
`,
    );
  });

  test('the README table has one row per option, pipes escaped', () => {
    const table = formatOptionsTable({
      ...SPEC,
      options: {
        ...SPEC.options,
        mix: option({ flag: '--mix', default: 'a|b', help: 'x | y', parse: text }),
      },
    });
    assert.equal(
      table,
      `| Flag | Environment variable | Default | Meaning |
| --- | --- | --- | --- |
| \`--num <N>\` | \`PKGINDEX_T_NUM\` | \`7\` | A number. |
| \`--name <value>\`, \`-n\` |  | \`"x"\` | A name. |
| \`--on\` | \`PKGINDEX_T_ON\` | \`false\` | A switch. |
| \`--mix <value>\` |  | \`"a\\|b"\` | x \\| y |`,
    );
  });

  for (const [name, entry] of Object.entries(COMMANDS))
    test(`\`pkgindex ${name}\`'s declaration has no flag twice and every variable is PKGINDEX_*`, async () => {
      const { command } = await entry.load();
      assert.deepEqual(parseCommandLine(name, command.spec, ['--help'], {}), { help: true });
      for (const o of Object.values(command.spec.options))
        assert.match(o.env ?? 'PKGINDEX_', /^PKGINDEX_[A-Z_]*$/);
    });
});
