import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPkgIndexError } from '../../../src/errors.js';
import { crc32 } from '../../../src/store/format/crc32.js';
import {
  encodeFileHeader,
  FORMAT_VERSION,
  Magic,
  readFileHeader,
} from '../../../src/store/format/file-header.js';

/** A header of `magic` with `version`, its CRC correct. */
function headerWithVersion(magic: Magic, version: number): Buffer {
  const buf = encodeFileHeader(magic, 5);
  buf.writeUInt32LE(version, 4);
  buf.writeUInt32LE(crc32(buf.subarray(0, 12)), 12);
  return buf;
}

test('a file header round-trips; blank or short is null (a crash while creating the file)', () => {
  assert.deepEqual(readFileHeader(encodeFileHeader(Magic.SEGMENT, 9), Magic.SEGMENT, 'f'), {
    version: FORMAT_VERSION,
    seq: 9,
  });
  assert.equal(readFileHeader(Buffer.alloc(16), Magic.SEGMENT, 'f'), null);
  assert.equal(readFileHeader(encodeFileHeader(Magic.SEGMENT, 9).subarray(0, 15), Magic.SEGMENT, 'f'), null);
});

test('a damaged file header is corrupt, with what to do for its kind of file', () => {
  const advice: [Magic, RegExp][] = [
    [Magic.SEGMENT, /acknowledged data after it cannot be read/],
    [Magic.SNAPSHOT, /the snapshot is damaged/],
    [Magic.CONTROL, /control record of what is durable is damaged/],
  ];
  for (const [magic, what] of advice) {
    const flipped = encodeFileHeader(magic, 1);
    flipped[9]! ^= 1;
    assert.throws(
      () => readFileHeader(flipped, magic, 'f'),
      (err) =>
        isPkgIndexError(err, 'E_STORAGE_CORRUPT') &&
        err.message.startsWith(`f: damaged file header (expected a ${magic} header) at offset 0;`) &&
        what.test(err.message),
    );
    // The right header of another kind of file is as wrong.
    assert.throws(
      () =>
        readFileHeader(
          encodeFileHeader(Magic.SEGMENT === magic ? Magic.SNAPSHOT : Magic.SEGMENT, 1),
          magic,
          'f',
        ),
      {
        code: 'E_STORAGE_CORRUPT',
      },
    );
  }
});

test('a newer format version asks for a newer pkgindex; an unknown older one is corrupt', () => {
  assert.throws(
    () => readFileHeader(headerWithVersion(Magic.SNAPSHOT, FORMAT_VERSION + 1), Magic.SNAPSHOT, 'f'),
    {
      code: 'E_STORAGE_VERSION',
      message: `f has format version ${FORMAT_VERSION + 1}, but this pkgindex reads versions up to ${FORMAT_VERSION}; run a newer pkgindex on this data dir`,
    },
  );
  assert.throws(
    () => readFileHeader(headerWithVersion(Magic.CONTROL, 0), Magic.CONTROL, 'f'),
    (err) =>
      isPkgIndexError(err, 'E_STORAGE_CORRUPT') &&
      err.message.startsWith('f: invalid format version 0 at offset 4;'),
  );
  assert.deepEqual(readFileHeader(headerWithVersion(Magic.SEGMENT, 1), Magic.SEGMENT, 'f'), {
    version: 1,
    seq: 5,
  });
});
