import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readLines } from '../../src/import/read-lines.js';

const FIXTURE = 'test/fixtures/debian/Packages';

async function collect(paths: string[]): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of readLines(paths)) lines.push(line);
  return lines;
}

function withTempDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pkgindex-read-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const plain = readFileSync(FIXTURE, 'utf8').split('\n').slice(0, -1);

test(
  'plain and gzip files read the same lines; CRLF and a missing final newline are handled',
  withTempDir(async (dir) => {
    const gz = join(dir, 'Packages.gz');
    writeFileSync(gz, gzipSync(readFileSync(FIXTURE)));
    assert.deepEqual(await collect([FIXTURE]), plain);
    assert.deepEqual(await collect([gz]), plain);
    const crlf = join(dir, 'crlf');
    writeFileSync(crlf, 'a: b\r\nb:\r\nc: a');
    assert.deepEqual(await collect([crlf]), ['a: b', 'b:', 'c: a']);
    // Two sources are separated by an empty line, so stanzas cannot merge across files.
    assert.deepEqual(await collect([crlf, crlf]), ['a: b', 'b:', 'c: a', '', 'a: b', 'b:', 'c: a']);
  }),
);

const hasXz = spawnSync('xz', ['--version']).status === 0;

test(
  'xz files are read through the system xz',
  { skip: hasXz ? false : 'xz is not installed (apt-get install xz-utils)' },
  withTempDir(async (dir) => {
    const xz = join(dir, 'Packages.xz');
    writeFileSync(xz, spawnSync('xz', ['-c', FIXTURE], { maxBuffer: 1 << 24 }).stdout);
    assert.deepEqual(await collect([xz]), plain);
  }),
);

test(
  'a corrupt compressed file and a missing file are reported as import format errors',
  withTempDir(async (dir) => {
    const bad = join(dir, 'bad.gz');
    writeFileSync(bad, Buffer.from([0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8]));
    await assert.rejects(collect([bad]), { code: 'E_IMPORT_FORMAT', message: /not valid gzip/ });
    await assert.rejects(collect([join(dir, 'nope')]), {
      code: 'E_IMPORT_FORMAT',
      message: /cannot read .*nope/,
    });
    if (hasXz) {
      const badXz = join(dir, 'bad.xz');
      writeFileSync(badXz, Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2, 3]));
      await assert.rejects(collect([badXz]), { code: 'E_IMPORT_FORMAT', message: /xz could not decompress/ });
    }
  }),
);
