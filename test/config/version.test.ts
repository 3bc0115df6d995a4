/**
 * `pkgindex --version` and the `starting` log event report the version of the pkgindex
 * package.json above the code, skipping other packages' manifests on the way; one that cannot be
 * read gives 'unknown' rather than stopping the server.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageVersion } from '../../src/config/version.js';
import { runCli } from '../cli/processes.js';

const OURS = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

function tree(): { root: string; deep: string; done: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'pkgindex-version-'));
  const deep = join(root, 'node_modules', 'pkgindex', 'dist', 'src', 'config');
  mkdirSync(deep, { recursive: true });
  return {
    root,
    deep,
    done: () => {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

test('the built code finds this repository’s package.json, as --version prints it', async () => {
  assert.equal(packageVersion(), OURS);
  const r = await runCli(['--version']);
  assert.equal(r.stdout, `${OURS}\n`);
});

test('another package’s manifest on the way up is skipped; pkgindex’s above it counts', () => {
  const { root, deep, done } = tree();
  try {
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'pkgindex', version: '9.8.7' }));
    writeFileSync(
      join(root, 'node_modules', 'package.json'),
      JSON.stringify({ name: 'other', version: '1.0.0' }),
    );
    // A pkgindex manifest without a version string is not an answer either.
    writeFileSync(join(deep, '..', 'package.json'), JSON.stringify({ name: 'pkgindex', version: 3 }));
    assert.equal(packageVersion(deep), '9.8.7');
  } finally {
    done();
  }
});

test('no pkgindex manifest above, or an unreadable one: unknown', () => {
  const { root, deep, done } = tree();
  try {
    assert.equal(packageVersion(deep), 'unknown');
    writeFileSync(join(root, 'node_modules', 'package.json'), '{ "name": "pkgindex", ');
    assert.equal(packageVersion(deep), 'unknown');
  } finally {
    done();
  }
});
