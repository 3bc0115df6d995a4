import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  corruptDataError,
  createError,
  deserializeError,
  ERRORS,
  EXIT_INTERNAL,
  isOperationalError,
  isPkgIndexError,
  isStorageError,
  replyLostError,
  serializeError,
  type CatalogueEntry,
  type ThrownErrorCode,
} from '../src/errors.js';
import { ProtocolErrorCode } from '../src/protocol/command.js';

// Run from the repository root (npm test does), on the TypeScript sources.
const entries: [string, CatalogueEntry][] = Object.entries(ERRORS);
const thrown = entries.filter(([, e]) => e.kind !== 'reply').map(([code]) => code as ThrownErrorCode);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}
const SOURCES = sourceFiles('src').map((path) => ({ path, text: readFileSync(path, 'utf8') }));

test('codes are unique, written E_UPPER_CASE, and each error carries its key as its code', () => {
  // A repeated key in the object literal would silently keep the last entry: read the source.
  const keys = [...readFileSync('src/errors.ts', 'utf8').matchAll(/^ {2}(E_\w+): \{/gm)].map((m) => m[1]);
  assert.deepEqual(keys, Object.keys(ERRORS));
  assert.equal(new Set(keys).size, keys.length);
  for (const [code, entry] of entries) {
    assert.match(code, /^E_[A-Z0-9]+(_[A-Z0-9]+)*$/);
    assert.match(entry.name, /^[A-Z]\w*Error$/, code);
    assert.ok(entry.meaning.length > 0 && !entry.meaning.includes('\n'), `${code}: one line of meaning`);
  }
  const cause = new Error('underneath');
  for (const code of thrown) {
    const err = createError(code, 'what happened; what to do', { cause });
    assert.ok(err instanceof Error);
    assert.equal(err.code, code);
    assert.equal(err.name, ERRORS[code].name);
    assert.equal(err.message, 'what happened; what to do');
    assert.equal(err.cause, cause);
  }
});

test('the reply codes are exactly the protocol parser’s', () => {
  const replies = entries.filter(([, e]) => e.kind === 'reply').map(([code]) => code);
  assert.deepEqual(replies.sort(), Object.values(ProtocolErrorCode).sort());
});

test('createError attaches the HTTP status and exit code of the catalogue', () => {
  const unauthorized = createError('E_ADMIN_UNAUTHORIZED', 'no token');
  assert.equal(unauthorized.status, 401);
  assert.equal(createError('E_NOT_FOUND', 'x').status, 404);
  assert.equal(createError('E_PROFILER_BUSY', 'x').status, 409);
  const config = createError('E_CONFIG', 'bad --port');
  assert.equal(config.status, undefined);
  assert.equal(config.exitCode, 2);
  assert.ok(isOperationalError(config));
  const bug = createError('E_INTERNAL', 'invariant');
  assert.equal(bug.exitCode, EXIT_INTERNAL);
  assert.ok(!isOperationalError(bug), 'a bug is reported with its stack, not as a user error');
  assert.ok(!isOperationalError(new Error('foreign')));
  // The stack starts where the error was raised, not in the factory.
  assert.doesNotMatch(bug.stack!.split('\n')[1]!, /createError/);
});

test('code checks: isPkgIndexError by code, isStorageError by family', () => {
  const corrupt = createError('E_STORAGE_CORRUPT', 'x');
  assert.ok(isPkgIndexError(corrupt));
  assert.ok(isPkgIndexError(corrupt, 'E_STORAGE_IO', 'E_STORAGE_CORRUPT'));
  assert.ok(!isPkgIndexError(corrupt, 'E_STORAGE_IO'));
  assert.ok(!isPkgIndexError(Object.assign(new Error('x'), { code: 'E_STORAGE_CORRUPT' })));
  for (const code of thrown)
    assert.equal(isStorageError(createError(code, 'x')), code.startsWith('E_STORAGE_'));
});

test('every code is produced somewhere in src/, or documented as reserved (and then produced nowhere)', () => {
  const produced = (code: string): boolean => {
    const protocolKey = Object.entries(ProtocolErrorCode).find(([, c]) => c === code)?.[0];
    return protocolKey === undefined
      ? SOURCES.some((s) => s.text.includes(`'${code}'`))
      : SOURCES.some(
          (s) => !s.path.endsWith('command.ts') && s.text.includes(`ProtocolErrorCode.${protocolKey}`),
        );
  };
  const problems: string[] = [];
  for (const [code, entry] of entries) {
    if (entry.reserved === undefined && !produced(code))
      problems.push(`${code}: used nowhere; remove it or mark it reserved`);
    if (entry.reserved !== undefined && produced(code)) problems.push(`${code}: produced, so not reserved`);
  }
  assert.deepEqual(problems, []);
});

test('src/ raises every error through the catalogue: no new Error(...) outside src/errors.ts', () => {
  /** Files allowed their own Error objects, and why. */
  const allowed: Readonly<Record<string, string>> = {
    // Simulates Node's own fs errors (EIO, ENOSPC with errno fields), which pkgindex's are not.
    [join('src', 'store', 'fs', 'fault-fs.ts')]: 'fault injection',
  };
  // The dashboard's page runs in the browser, where the server's catalogue does not apply.
  const browser = join('src', 'admin', 'dashboard', 'web');
  const offenders = SOURCES.filter(
    (s) =>
      s.path !== join('src', 'errors.ts') && allowed[s.path] === undefined && !s.path.startsWith(browser),
  )
    .flatMap((s) =>
      s.text
        .split('\n')
        .map((line, i) => ({ line, at: `${s.path}:${i + 1}` }))
        .filter(({ line }) => /\bnew\s+[A-Za-z]*Error\s*\(|\bthrow\s+['"`]/.test(line)),
    )
    .map(({ at, line }) => `${at}: ${line.trim()}`);
  assert.deepEqual(offenders, [], 'build these with createError (src/errors.ts)');
});

test('docs/runbook.md has the error table: every code with its name, HTTP status, exit code and meaning', () => {
  const rows = new Map<string, string[]>();
  for (const line of readFileSync('docs/runbook.md', 'utf8').split('\n')) {
    const m = /^\| `(E_\w+)` \|/.exec(line);
    if (m === null) continue;
    const cells = line
      .slice(1, -1)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim().replaceAll('\\|', '|'));
    rows.set(m[1]!, cells);
  }
  assert.deepEqual([...rows.keys()], Object.keys(ERRORS), 'run `npx tsx scripts/error-table.ts`');
  for (const [code, e] of entries) {
    const [, name, status, exitCode, meaning] = rows.get(code)!;
    assert.equal(name, e.name, code);
    assert.equal(status, String(e.status ?? '—'), code);
    assert.equal(exitCode, String(e.exitCode ?? '—'), code);
    assert.ok(meaning?.includes(e.meaning), `${code}: meaning`);
    if (e.reserved !== undefined)
      assert.ok(meaning!.includes(`Reserved: ${e.reserved}`), `${code}: reserved`);
  }
});

test('corruptDataError names the file and the offset, and what to do for that kind of file', () => {
  const segment = corruptDataError('/d/segment-0000000002.log', 120, 'checksum mismatch', 'segment');
  assert.equal(segment.code, 'E_STORAGE_CORRUPT');
  assert.match(segment.message, /^\/d\/segment-0000000002\.log: checksum mismatch at offset 120; .*backup/);
  assert.match(
    corruptDataError('/d/s.snap', 7, 'bad', 'snapshot').message,
    /^\/d\/s\.snap: bad at offset 7; the snapshot/,
  );
  assert.match(
    corruptDataError('/d', null, 'inconsistent', 'data dir').message,
    /^\/d: inconsistent; restore/,
  );
});

test('an error serialized for another thread comes back with its code, its fields and its cause chain', () => {
  const system = Object.assign(new Error("EIO: i/o error, read '/d/x.log'"), {
    code: 'EIO',
    errno: -5,
    syscall: 'read',
    path: '/d/x.log',
  });
  const sent = createError('E_STORAGE_IO', 'compaction failed', {
    cause: createError('E_INTERNAL', 'mid', { cause: system }),
  });
  // What postMessage does to the data.
  const back = deserializeError(structuredClone(serializeError(sent)));
  assert.ok(isPkgIndexError(back, 'E_STORAGE_IO'));
  assert.equal(back.message, 'compaction failed');
  assert.equal(back.status, 503);
  assert.equal(back.stack, sent.stack);
  const mid = back.cause;
  assert.ok(isPkgIndexError(mid, 'E_INTERNAL'));
  const root = mid.cause as NodeJS.ErrnoException;
  assert.ok(root instanceof Error && !isPkgIndexError(root));
  assert.deepEqual(
    { message: root.message, code: root.code, errno: root.errno, syscall: root.syscall, path: root.path },
    { message: system.message, code: 'EIO', errno: -5, syscall: 'read', path: '/d/x.log' },
  );

  const odd = deserializeError(structuredClone(serializeError('a string thrown')));
  assert.equal(odd.message, 'a string thrown');
  const loop = createError('E_INTERNAL', 'loop');
  Object.defineProperty(loop, 'cause', { value: loop });
  let depth = 0;
  for (let e: unknown = deserializeError(serializeError(loop)); e instanceof Error; e = e.cause) depth++;
  assert.ok(depth > 1 && depth < 20, `a cause cycle is cut (depth ${depth})`);
});

test('a lost reply says the command may have been applied only when a lost line could change the index', () => {
  const cause = createError('E_CONNECTION_CLOSED', 'the server closed the connection');
  assert.match(replyLostError(cause).message, /may or may not have been applied/);
  const query = replyLostError(cause, 2, false);
  assert.equal(query.code, 'E_REPLY_LOST');
  assert.doesNotMatch(query.message, /may or may not have been applied/);
  assert.match(
    query.message,
    /1 later line went unanswered with it; nothing was changed by these lines: send them again$/,
  );
});
