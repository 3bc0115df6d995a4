import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { FRAME_HEADER_BYTES, scanFrames, type ScanResult } from '../../../src/store/format/frame.js';
import { scanFileFrames } from '../../../src/store/format/frame-reader.js';
import { RecordBuffer } from '../../../src/store/format/record-buffer.js';
import { NodeFs } from '../../../src/store/fs/node-fs.js';

/**
 * The file scan reads through a window of `bufferBytes` and checks the frames the window
 * already holds without awaiting: it must visit exactly what the scan of the whole bytes in
 * memory visits, and end the same way, wherever frames and damage fall against the window.
 */

/** Groups of records of assorted sizes (one far larger than the small windows), each sealed at its offset. */
function log(groups: number): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (let g = 0; g < groups; g++) {
    const records = new RecordBuffer();
    for (let j = 0; j < 1 + (g % 4); j++) {
      const deps = Array.from({ length: (g * 7 + j * 3) % 9 }, (_, k) => `dep-${g}-${k}`);
      if (g === 3 && j === 0) deps.push('x'.repeat(200), 'y'.repeat(200));
      if ((g + j) % 3 === 0) records.appendRemove(`p${g}-${j}`);
      else records.appendIndex(`p${g}-${j}`, deps);
    }
    const group = Buffer.from(records.seal(at));
    parts.push(group);
    at += group.length;
  }
  return Buffer.concat(parts);
}

interface Visits {
  readonly frames: string[];
  readonly result: ScanResult;
}

function inMemory(bytes: Buffer): Visits {
  const frames: string[] = [];
  const result = scanFrames(bytes, 0, (payload, offset) =>
    frames.push(`${offset}:${payload.toString('hex')}`),
  );
  return { frames, result };
}

async function fromFile(path: string, size: number, bufferBytes: number): Promise<Visits> {
  const file = await new NodeFs().open(path, 'read');
  const frames: string[] = [];
  try {
    const result = await scanFileFrames(file, size, 0, bufferBytes, (bytes, from, to, offset) =>
      frames.push(`${offset}:${bytes.toString('hex', from, to)}`),
    );
    return { frames, result };
  } finally {
    await file.close();
  }
}

test('a file scanned through any window visits what the scan in memory visits, cut or damaged anywhere', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pkgindex-frame-reader-'));
  const whole = log(12);
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: whole.length }),
        fc.option(fc.integer({ min: 0, max: whole.length - 1 }), { nil: null }),
        fc.constantFrom(FRAME_HEADER_BYTES, 13, 31, 64, 257, 4096),
        async (cut, flip, bufferBytes) => {
          const bytes = Buffer.from(whole.subarray(0, cut));
          if (flip !== null && flip < cut) bytes[flip]! ^= 0x5a;
          const path = join(dir, 'segment');
          writeFileSync(path, bytes);
          assert.deepEqual(await fromFile(path, bytes.length, bufferBytes), inMemory(bytes));
        },
      ),
      { numRuns: 300 },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the scan of an undamaged log visits every frame, once, whatever the window', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pkgindex-frame-reader-'));
  try {
    const bytes = log(40);
    const path = join(dir, 'segment');
    writeFileSync(path, bytes);
    const expected = inMemory(bytes);
    assert.equal(expected.result.bad, null);
    assert.ok(expected.frames.length > 60, `${expected.frames.length} frames`);
    for (const bufferBytes of [FRAME_HEADER_BYTES, 100, 1 << 20])
      assert.deepEqual(await fromFile(path, bytes.length, bufferBytes), expected, `window ${bufferBytes}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
