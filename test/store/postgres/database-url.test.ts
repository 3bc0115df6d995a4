import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  defaultApplicationName,
  readPasswordFile,
  redactUrl,
} from '../../../src/store/postgres/database-url.js';

test('redactUrl hides the password and nothing else; an unparseable URL is not echoed', () => {
  assert.equal(redactUrl('postgres://app:s3cret@db:5432/idx'), 'postgres://app:***@db:5432/idx');
  assert.equal(redactUrl('postgres://app@db/idx'), 'postgres://app@db/idx');
  assert.equal(redactUrl(''), '');
  assert.equal(redactUrl('not a url with s3cret'), '<unparseable database URL>');
});

test('readPasswordFile reads the first line; a missing file is E_DATABASE_CONFIG naming the flag', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pkgindex-pw-'));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const file = join(dir, 'pw');
  writeFileSync(file, 'hunter2\r\nignored\n');
  assert.equal(readPasswordFile(file), 'hunter2');
  assert.throws(() => readPasswordFile(join(dir, 'absent')), {
    code: 'E_DATABASE_CONFIG',
    message: /--database-password-file/,
  });
});

test('the default application_name names host and process within PostgreSQL’s 63 bytes', () => {
  const name = defaultApplicationName();
  assert.match(name, /^pkgindex\//);
  assert.ok(name.length <= 63);
  assert.ok(name.endsWith(String(process.pid)) || name.length === 63);
});
