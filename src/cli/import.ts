import { statSync } from 'node:fs';
import { option, type Values } from '../config/command-line.js';
import { flagBool, integer, oneOf, requireFile } from '../config/parsers.js';
import { createError } from '../errors.js';
import { FORMATS, parseSource, type FormatName } from '../import/formats.js';
import { planImport, undefinedNames } from '../import/plan.js';
import { Progress } from '../import/progress.js';
import { readLines, type ReadCounter } from '../import/read-lines.js';
import { buildReport, formatReport } from '../import/report.js';
import {
  queryIndexedResumable,
  runImportResumable,
  type ResumableOptions,
  type RunResult,
} from '../import/run.js';
import { defineCommand } from './command.js';
import {
  clientTls,
  CONNECTION_OPTIONS,
  connectTo,
  RETRY_BASE_DELAY_MS,
  RETRY_OPTIONS,
} from './connection.js';

const DESCRIPTION = `Loads a package repository into a running server: every package that can be indexed,
dependencies first, pipelined over one connection; then a report of what was indexed,
what was left out and why.

Formats (--format):
  brew     Homebrew dependency list, one "name: dep1 dep2 ..." per line
  debian   Debian package index: a Packages file (apt-cache dumpavail,
           /var/lib/apt/lists/*_Packages*) or /var/lib/dpkg/status

The server refuses cycles, so by default each dependency cycle loses a few of its
dependencies (Eades-Lin-Smyth greedy order; ties keep the dependency on the
package more of the repository depends on) and the whole repository is indexed:
on Debian, 74 dependencies dropped index 63,640 of 63,681 packages, where leaving
the cycles out would index 13,950 (libc6 <-> libgcc-s1 alone keeps out 47,459).
Every dropped dependency is reported. --break-cycles=false leaves the cycles out
instead, with everything that depends on them. Packages that still cannot be
indexed are left out and reported: names the protocol forbids, dependencies that
exist nowhere, and everything that depends on one of those. A dependency the
repository does not define but the server already holds counts as present (asked
with QUERY before planning; not with --dry-run), so a repository can be layered on
one imported before (security updates, a PPA). The report names
first the cycles that keep out (or let in) the most packages.`;

const EPILOGUE = `Exit status: 0 every importable package was indexed; 1 the server refused some
(or, with --strict, some were left out); 2 unreadable source, usage or connection error.`;

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  ...RETRY_OPTIONS,
  format: option<FormatName>({
    flag: '--format',
    value: 'FORMAT',
    default: 'auto',
    help: 'auto (recognised from the first line), brew or debian.',
    parse: oneOf('auto', ...(Object.keys(FORMATS) as (keyof typeof FORMATS)[])),
  }),
  dryRun: option({
    flag: '--dry-run',
    default: false,
    help: 'Plan and report only; no server needed.',
    parse: flagBool,
  }),
  breakCycles: option({
    flag: '--break-cycles',
    default: true,
    help: 'Drop the fewest dependencies inside cycles (each reported) so the whole repository is indexed; =false leaves the cycles out, with all that depends on them.',
    parse: flagBool,
  }),
  json: option({
    flag: '--json',
    default: false,
    help: 'Print the report as JSON (with every left-out package).',
    parse: flagBool,
  }),
  window: option({
    flag: '--window',
    value: 'N',
    default: 1024,
    help: 'Most INDEX lines awaiting a reply at once.',
    parse: integer(1, 1_000_000),
  }),
  strict: option({
    flag: '--strict',
    default: false,
    help: 'Exit 1 when any package is left out, not only when the server refuses one.',
    parse: flagBool,
  }),
  noProgress: option({
    flag: '--no-progress',
    default: false,
    help: 'No progress output on stderr.',
    parse: flagBool,
  }),
};

/** `pkgindex import`. */
export const command = defineCommand({
  description: DESCRIPTION,
  options: OPTIONS,
  positionals: [
    {
      name: 'FILE',
      variadic: true,
      help: "A repository to import, - for stdin; gzip-compressed too (xz, lz4, bzip2 and zstd through the system's xz, lz4, bzip2 or zstd program).",
    },
  ],
  epilogue: EPILOGUE,
  run: importFiles,
});

async function importFiles(values: Values<typeof OPTIONS>, files: readonly string[]): Promise<number> {
  // Checked before reading: a typo should not cost a minute of parsing first.
  for (const file of files) if (file !== '-') requireFile(file);
  // So are the TLS files (a --ca that is no certificate).
  if (!values.dryRun) clientTls(values);
  const { format, dryRun, breakCycles, window, noProgress: quiet } = values;
  const started = performance.now();
  const progress = quiet
    ? null
    : new Progress({ out: process.stderr, tty: process.stderr.isTTY, columns: process.stderr.columns });
  if (!quiet) process.stderr.write(`reading ${files.join(', ')}\n`);
  // Progress from the first byte: the bytes read (of the files' sizes, when they are files).
  const totalBytes = files.includes('-') ? null : files.reduce((sum, f) => sum + statSync(f).size, 0);
  const counter: ReadCounter = { bytes: 0 };
  let lines = 0;
  const counted = async function* (): AsyncGenerator<string> {
    for await (const line of readLines(files, counter)) {
      lines++;
      progress?.reading(counter.bytes, totalBytes, lines);
      yield line;
    }
    progress?.reading(counter.bytes, totalBytes, lines, true);
  };
  const parsed = await parseSource(counted(), format);
  progress?.finish();
  if (parsed.packages.length === 0)
    throw createError(
      'E_IMPORT_FORMAT',
      `no packages found in ${files.join(', ')} read as ${parsed.format} ` +
        `(${parsed.warningCount} lines not understood); check the file or pass --format`,
    );
  // Dependencies the source does not define may be on the server already (a repository layered
  // on one imported before): asked once, before planning, so that they count as present.
  const reconnecting: Omit<ResumableOptions, 'onProgress'> = {
    window,
    connect: () => connectTo(values, window),
    retries: values.retries,
    backoff: { baseMs: RETRY_BASE_DELAY_MS, maxMs: values.retryMaxDelayMs },
    onRetry: (attempt, delayMs, cause) => {
      if (!quiet)
        process.stderr.write(
          `\n${cause.message}; reconnecting in ${delayMs} ms (attempt ${attempt} of ${values.retries}), then resuming\n`,
        );
    },
  };
  let indexed: Set<string> | undefined;
  if (!dryRun) {
    const asked = undefinedNames(parsed.packages);
    if (asked.length > 0) indexed = await queryIndexedResumable(asked, reconnecting);
  }
  const plan = planImport(parsed.packages, { breakCycles, indexed });
  if (!quiet)
    process.stderr.write(
      `planned in ${((performance.now() - started) / 1000).toFixed(1)} s: ` +
        `${plan.order.length} of ${parsed.packages.length} packages importable\n`,
    );

  let run: { server: string; result: RunResult } | null = null;
  if (!dryRun) {
    progress?.nextPhase();
    try {
      const result = await runImportResumable(plan.order, {
        ...reconnecting,
        onProgress:
          progress === null
            ? undefined
            : (done, total) => {
                progress.update(done, total);
              },
      });
      run = { server: `${values.host}:${values.port}`, result };
    } finally {
      progress?.finish();
    }
  }

  const report = buildReport(files, parsed, plan, run, breakCycles);
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  if (run !== null && run.result.rejected.length > 0) return 1;
  if (values.strict && plan.leftOut.length > 0) return 1;
  return 0;
}
