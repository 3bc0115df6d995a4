import { parseArgs } from 'node:util';
import { createError } from '../errors.js';
import { isFormatName, parseSource } from '../import/formats.js';
import { planImport } from '../import/plan.js';
import { Progress } from '../import/progress.js';
import { readLines } from '../import/read-lines.js';
import { buildReport, formatReport } from '../import/report.js';
import { runImport, type RunResult } from '../import/run.js';
import { CONNECTION_FLAGS, connectTo, serverAddress, usageErrors } from './client.js';

export const IMPORT_HELP = `Usage: pkgindex import [options] FILE ...

Loads a package repository into a running server: every package that can be indexed,
dependencies first, pipelined over one connection; then a report of what was indexed,
what was left out and why. FILE may be - for stdin, and may be gzip-compressed (xz,
lz4, bzip2 and zstd too, through the system's xz, lz4, bzip2 or zstd program).

Formats (--format, default auto):
  brew     Homebrew dependency list, one "name: dep1 dep2 ..." per line
  debian   Debian package index: a Packages file (apt-cache dumpavail,
           /var/lib/apt/lists/*_Packages*) or /var/lib/dpkg/status

Packages that cannot be indexed are left out and reported: names the protocol
forbids, dependencies that exist nowhere, dependency cycles, and everything that
depends on one of those. With --break-cycles, each cycle instead loses a few of
its dependencies (Eades-Lin-Smyth greedy order; ties keep the dependency on the
package more of the repository depends on) so its packages can be indexed; every
dropped dependency is reported.

Options:
  --host HOST          server address (default 127.0.0.1)
  --port PORT          server port (default $PKGINDEX_PORT, else 8080)
  --timeout-ms MS      give up when the server is silent this long (default 10000)
  --format FORMAT      auto, brew or debian
  --dry-run            plan and report only; no server needed
  --break-cycles       drop dependencies inside cycles instead of leaving them out
  --json               print the report as JSON (with every left-out package)
  --window N           most INDEX lines awaiting a reply at once (default 1024)
  --strict             exit 1 when any package is left out, not only when refused
  --no-progress        no progress output on stderr
  --help               print this help

Exit status: 0 every importable package was indexed; 1 the server refused some
(or, with --strict, some were left out); 2 unreadable source, usage or connection error.
`;

/** `pkgindex import`. */
export async function importCommand(argv: readonly string[]): Promise<number> {
  const { values, positionals } = usageErrors(() =>
    parseArgs({
      args: [...argv],
      options: {
        ...CONNECTION_FLAGS,
        format: { type: 'string', default: 'auto' },
        'dry-run': { type: 'boolean' },
        'break-cycles': { type: 'boolean' },
        json: { type: 'boolean' },
        window: { type: 'string' },
        strict: { type: 'boolean' },
        'no-progress': { type: 'boolean' },
        help: { type: 'boolean' },
      },
      allowPositionals: true,
    }),
  );
  if (values.help === true) {
    process.stdout.write(IMPORT_HELP);
    return 0;
  }
  if (positionals.length === 0) throw createError('E_USAGE', 'no FILE to import; see pkgindex import --help');
  const format = values.format;
  if (!isFormatName(format))
    throw createError('E_USAGE', `--format must be auto, brew or debian, got "${format}"`);
  const window = values.window === undefined ? 1024 : Number(values.window);
  if (!Number.isSafeInteger(window) || window < 1)
    throw createError('E_USAGE', `--window must be a whole number of at least 1, got "${values.window!}"`);
  const dryRun = values['dry-run'] === true;
  // Checked before reading: a wrong --port should not cost a minute of parsing first.
  const address = dryRun ? null : serverAddress(values);

  const quiet = values['no-progress'] === true;
  const started = performance.now();
  if (!quiet) process.stderr.write(`reading ${positionals.join(', ')}\n`);
  const parsed = await parseSource(readLines(positionals), format);
  if (parsed.packages.length === 0)
    throw createError(
      'E_IMPORT_FORMAT',
      `no packages found in ${positionals.join(', ')} read as ${parsed.format} ` +
        `(${parsed.warningCount} lines not understood); check the file or pass --format`,
    );
  const breakCycles = values['break-cycles'] === true;
  const plan = planImport(parsed.packages, { breakCycles });
  if (!quiet)
    process.stderr.write(
      `planned in ${((performance.now() - started) / 1000).toFixed(1)} s: ` +
        `${plan.order.length} of ${parsed.packages.length} packages importable\n`,
    );

  let run: { server: string; result: RunResult } | null = null;
  if (address !== null) {
    const connection = await connectTo(address, window);
    const progress = quiet
      ? null
      : new Progress({
          out: process.stderr,
          tty: process.stderr.isTTY,
          columns: process.stderr.columns,
        });
    try {
      const result = await runImport(connection, plan.order, {
        window,
        onProgress:
          progress === null
            ? undefined
            : (done, total) => {
                progress.update(done, total);
              },
      });
      run = { server: connection.address, result };
    } finally {
      progress?.finish();
      await connection.close();
    }
  }

  const report = buildReport(positionals, parsed, plan, run, breakCycles);
  process.stdout.write(values.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  if (run !== null && run.result.rejected.length > 0) return 1;
  if (values.strict === true && plan.leftOut.length > 0) return 1;
  return 0;
}
