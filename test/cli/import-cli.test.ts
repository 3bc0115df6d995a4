import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { ImportReport } from '../../src/import/report.js';
import { spawnServer, type ServerProcess } from '../support/servers.js';
import { coverageEnv } from '../support/coverage-env.js';
import { runCli } from './processes.js';

const BREW = 'bench/brew-dependencies.txt';
const DEBIAN = 'test/fixtures/debian/Packages';

let server: ServerProcess;
let dir: string;
before(async () => {
  server = await spawnServer();
  dir = mkdtempSync(join(tmpdir(), 'pkgindex-import-'));
});
after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const at = (): string[] => ['--host', '127.0.0.1', '--port', String(server.port)];

/** Asks the server, through `pkgindex client` reading a pipe, which of `names` are indexed. */
async function indexed(names: readonly string[], port = server.port): Promise<Set<string>> {
  const result = await runCli(['client', '--port', String(port)], {
    input: names.map((n) => `QUERY|${n}|\n`).join(''),
  });
  const replies = result.stdout.split('\n').slice(0, -1);
  assert.equal(replies.length, names.length, result.stderr);
  return new Set(names.filter((_, i) => replies[i] === 'OK'));
}

function sourceNames(
  report: ImportReport,
  all: readonly string[],
): { importable: string[]; leftOut: string[] } {
  const leftOut = report.plan.leftOutPackages.map((l) => l.name);
  const out = new Set(leftOut);
  return { importable: all.filter((n) => !out.has(n)), leftOut };
}

test('dry run: the plan and report without a server, as text and as JSON', async () => {
  const text = await runCli(['import', '--break-cycles=false', '--dry-run', BREW]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /3,368 packages/);
  assert.match(text.stdout, /Plan: 3,359 importable, 9 left out/);
  assert.match(text.stdout, /gpg: 8, docbook2X: 1/);
  assert.match(text.stdout, /Dry run: nothing was sent/);

  const json = await runCli(['import', '--break-cycles=false', '--dry-run', '--json', DEBIAN]);
  assert.equal(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout) as ImportReport;
  assert.equal(report.format, 'debian');
  assert.equal(report.run, null);
  assert.equal(report.packages, 29);
  assert.deepEqual(report.plan.cycles, [['libc6', 'libgcc-s1']]);
  assert.equal(report.plan.importable + report.plan.leftOut, 29);

  const strict = await runCli(['import', '--break-cycles=false', '--dry-run', '--strict', BREW]);
  assert.equal(strict.code, 1);
});

test('the Homebrew list is imported: everything importable is indexed, nothing else', async () => {
  const result = await runCli(['import', '--break-cycles=false', ...at(), '--json', BREW]);
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as ImportReport;
  assert.equal(report.run?.indexed, 3359);
  assert.deepEqual(report.run.rejected, []);
  // Not a terminal: plain progress lines, the last at 100%.
  assert.match(result.stderr, /indexing: 3359\/3359 100%/);
  // Progress from the first byte read: bytes of the file's size and lines, before any plan.
  assert.match(result.stderr, /^reading: 0\.2 MB of 0\.2 MB 100%, 3,368 lines, /m);

  const all = readFileSync(BREW, 'utf8')
    .split('\n')
    .filter((l) => l.includes(':'))
    .map((l) => l.slice(0, l.indexOf(':')));
  const { importable, leftOut } = sourceNames(report, all);
  assert.equal(importable.length, 3359);
  assert.deepEqual(await indexed(importable), new Set(importable));
  assert.deepEqual(await indexed(leftOut), new Set());
});

test('a gzip-compressed Debian index is imported the same way', async () => {
  // A server of its own: Homebrew packages such as mawk and openssl must not be there already.
  const debianServer = await spawnServer();
  try {
    await importDebian(debianServer.port);
  } finally {
    await debianServer.stop();
  }
});

async function importDebian(port: number): Promise<void> {
  const gz = join(dir, 'Packages.gz');
  writeFileSync(gz, gzipSync(readFileSync(DEBIAN)));
  const result = await runCli([
    'import',
    '--break-cycles=false',
    '--port',
    String(port),
    '--json',
    '--no-progress',
    gz,
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, '');
  const report = JSON.parse(result.stdout) as ImportReport;
  const all = [...readFileSync(DEBIAN, 'utf8').matchAll(/^Package: (\S+)$/gm)].map((m) => m[1]!);
  assert.equal(all.length, 29);
  const { importable, leftOut } = sourceNames(report, all);
  assert.equal(report.run?.indexed, importable.length);
  assert.ok(importable.includes('tzdata') && leftOut.includes('libc6'));
  assert.deepEqual(await indexed(importable, port), new Set(importable));
  assert.deepEqual(await indexed(leftOut, port), new Set());

  // Imported again, everything is already there: still OK.
  const again = await runCli([
    'import',
    '--break-cycles=false',
    '--port',
    String(port),
    '--no-progress',
    DEBIAN,
  ]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`Import into 127\\.0\\.0\\.1:${port}: ${importable.length} indexed`));
}

test('cycles broken by default: libc6 and libgcc-s1 are indexed, with what depends on them', async () => {
  const byDefault = await runCli(['import', '--dry-run', DEBIAN]);
  const dry = await runCli(['import', '--dry-run', '--break-cycles', DEBIAN]);
  assert.equal(byDefault.stdout, dry.stdout);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /Plan: 22 importable, 7 left out/);
  assert.match(dry.stdout, /cycles broken: 1 dependencies dropped in 1 cycles, letting in 11 packages/);
  assert.match(dry.stdout, /libc6 -> libgcc-s1 \(cycle 1, 2 packages\)/);

  const cyclesServer = await spawnServer();
  try {
    const port = String(cyclesServer.port);
    const result = await runCli([
      'import',
      '--port',
      port,
      '--break-cycles',
      '--json',
      '--no-progress',
      DEBIAN,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as ImportReport;
    assert.equal(report.plan.cyclesBroken, true);
    assert.deepEqual(report.plan.droppedEdges, [{ from: 'libc6', to: 'libgcc-s1', cycle: 0 }]);
    assert.equal(report.plan.letIn, 11);
    assert.equal(report.run?.indexed, 22);
    assert.deepEqual(report.run.rejected, []);

    const all = [...readFileSync(DEBIAN, 'utf8').matchAll(/^Package: (\S+)$/gm)].map((m) => m[1]!);
    const { importable, leftOut } = sourceNames(report, all);
    assert.ok(
      importable.includes('libc6') && importable.includes('libgcc-s1') && importable.includes('openssl'),
    );
    assert.deepEqual(await indexed(importable, cyclesServer.port), new Set(importable));
    assert.deepEqual(await indexed(leftOut, cyclesServer.port), new Set());
    // The dependency that was kept is real: libc6 cannot go while libgcc-s1 needs it.
    const remove = await runCli(['client', '--port', port, 'remove', 'libc6']);
    assert.equal(remove.stdout, 'FAIL\n');
  } finally {
    await cyclesServer.stop();
  }
});

test('dependencies already on the server count as present: a repository layered on another', async () => {
  const layered = await spawnServer();
  try {
    const base = join(dir, 'base.txt');
    const top = join(dir, 'layer.txt');
    writeFileSync(base, 'cy-x:\n');
    writeFileSync(top, 'cy-z: cy-y\ncy-y: cy-x\ncy-w: cy-ghost\n');
    const port = String(layered.port);
    assert.equal((await runCli(['import', '--port', port, '--no-progress', base])).code, 0);
    const result = await runCli(['import', '--port', port, '--no-progress', top]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Plan: 2 importable, 1 left out$/m);
    assert.match(result.stdout, /^ {2}dependencies found on the server, not in the source: 1$/m);
    assert.match(result.stdout, /^ {2}cy-ghost: 1$/m);
    assert.match(result.stdout, /2 indexed, 0 refused/);
    assert.deepEqual(
      await indexed(['cy-x', 'cy-y', 'cy-z', 'cy-w'], layered.port),
      new Set(['cy-x', 'cy-y', 'cy-z']),
    );
    const json = JSON.parse(
      (await runCli(['import', '--json', '--port', port, '--no-progress', top])).stdout,
    ) as ImportReport;
    assert.equal(json.plan.foundOnServer, 1);
    const dry = JSON.parse(
      (await runCli(['import', '--json', '--dry-run', '--no-progress', top])).stdout,
    ) as ImportReport;
    assert.equal(dry.plan.foundOnServer, null);
    assert.equal(dry.plan.importable, 0);
  } finally {
    await layered.stop();
  }
});

test('packages the server refuses make the import exit 1 and are listed', async () => {
  // The real server cannot be made to refuse a correct plan, so this one refuses everything.
  const sockets = new Set<Socket>();
  const refusing = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => {
      socket.write('FAIL\n'.repeat(chunk.toString().split('\n').length - 1));
    });
  });
  await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
  try {
    const port = String((refusing.address() as AddressInfo).port);
    const result = await runCli(['import', '--break-cycles=false', '--port', port, '--no-progress', BREW]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /0 indexed, 3,359 refused/);
    assert.match(result.stdout, /refused: a2ps \(FAIL\)/);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => refusing.close(resolve));
  }
});

test('unreadable sources, unknown formats and a missing decompressor exit 2 saying what to do', async () => {
  // Said before anything is read or connected to, with a code of its own.
  const nope = join(dir, 'nope');
  for (const args of [['--dry-run', nope], [nope], ['--port', '1', BREW, nope]])
    assert.deepEqual(
      await runCli(['import', ...args]),
      {
        code: 2,
        stdout: '',
        stderr: `pkgindex: file not found: ${nope}; check the path [E_FILE_NOT_FOUND]\n`,
      },
      args.join(' '),
    );
  const unreadable = await runCli(['import', '--dry-run', dir]);
  assert.equal(unreadable.code, 2);
  assert.match(unreadable.stderr, /cannot read .*EISDIR.*\[E_IMPORT_FORMAT\]/);

  const junk = join(dir, 'junk.txt');
  writeFileSync(junk, 'this is not\na package list\n');
  const notAList = await runCli(['import', '--dry-run', junk]);
  assert.equal(notAList.code, 2);
  assert.match(notAList.stderr, /no packages found.*--format/);

  const badFormat = await runCli(['import', '--dry-run', '--format', 'rpm', BREW]);
  assert.equal(badFormat.code, 2);
  assert.match(badFormat.stderr, /--format must be one of auto, brew, debian, got "rpm"/);

  // xz data with no xz program on PATH.
  const xz = join(dir, 'Packages.xz');
  writeFileSync(xz, Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 0]));
  const noTool = await runCli(['import', '--dry-run', xz], {
    env: { PATH: join(dir, 'empty-path'), ...coverageEnv() },
  });
  assert.equal(noTool.code, 2);
  assert.match(noTool.stderr, /xz-compressed.*apt-get install xz-utils.*xz -dc/);

  const down = await runCli(['import', '--port', '1', BREW]);
  assert.equal(down.code, 2);
  assert.match(down.stderr, /\[E_CONNECT\]/);
});
