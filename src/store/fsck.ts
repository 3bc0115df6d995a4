import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createError, isPkgIndexError } from '../errors.js';
import type { StorageFs } from './fs/storage-fs.js';
import { recover } from './recover.js';
import type { ControlRecord } from './control-file.js';

/** What `pkgindex fsck` found in a data dir. */
export interface FsckReport {
  readonly dataDir: string;
  /** True when the dir can be started on as it is, losing nothing the store knew was durable. */
  readonly clean: boolean;
  readonly files: readonly { readonly name: string; readonly bytes: number }[];
  /** Format versions of the data files, ascending. */
  readonly versions: readonly number[];
  readonly control: ControlRecord | null;
  readonly snapshotSeq: number;
  readonly segments: readonly { readonly seq: number; readonly bytes: number }[];
  readonly records: number;
  readonly packages: number;
  readonly dependencies: number;
  /** Torn tail: bytes a crash left half-written, cut off (silently, as expected) at the next start. */
  readonly tornTailBytes: number;
  /** Durable data that is missing (E_STORAGE_DATA_LOSS at start). */
  readonly dataLoss: readonly string[];
  /** Damage that stops recovery (E_STORAGE_CORRUPT, E_STORAGE_VERSION, ...): code and message. */
  readonly damage: { readonly code: string; readonly message: string } | null;
}

/**
 * Verifies a data dir offline, changing nothing: every frame and CRC, the control record, the
 * snapshot, that every record applies, and that the log holds what the control record says.
 * Throws only when the dir cannot be examined at all (absent, not accessible).
 */
export async function fsckDataDir(fs: StorageFs, dataDir: string): Promise<FsckReport> {
  let names: string[];
  try {
    names = (await readdir(dataDir)).sort();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw createError(
        'E_FILE_NOT_FOUND',
        `${dataDir} is not a directory; pass the --data-dir of the server`,
      );
    if (code === 'EACCES' || code === 'EPERM')
      throw createError(
        'E_STORAGE_ACCESS',
        `${dataDir} is not readable by this user; run fsck as the server's user`,
        {
          cause: err,
        },
      );
    throw err;
  }
  const files: { name: string; bytes: number }[] = [];
  for (const name of names) {
    const info = await stat(join(dataDir, name));
    if (info.isFile()) files.push({ name, bytes: info.size });
  }
  const base = { dataDir, files };
  try {
    const r = await recover(fs, dataDir, { repair: false, acceptDataLoss: true });
    return {
      ...base,
      clean: r.dataLoss.length === 0,
      versions: r.versions,
      control: r.control,
      snapshotSeq: r.snapshotSeq,
      segments: r.segments,
      records: r.records,
      packages: r.graph.size,
      dependencies: r.graph.edgeCount,
      tornTailBytes: r.truncatedBytes,
      dataLoss: r.dataLoss,
      damage: null,
    };
  } catch (err) {
    if (!isPkgIndexError(err)) throw err;
    return {
      ...base,
      clean: false,
      versions: [],
      control: null,
      snapshotSeq: 0,
      segments: [],
      records: 0,
      packages: 0,
      dependencies: 0,
      tornTailBytes: 0,
      dataLoss: [],
      damage: { code: err.code, message: err.message },
    };
  }
}

/** The report for a person: what was found, then the verdict and what to do. */
export function formatFsckReport(r: FsckReport): string {
  const lines = [`data dir ${r.dataDir}`];
  for (const f of r.files) lines.push(`  ${f.name.padEnd(26)} ${String(f.bytes).padStart(12)} bytes`);
  if (r.damage === null) {
    lines.push(
      `format version${r.versions.length === 1 ? '' : 's'}: ${r.versions.join(', ') || 'none (empty)'}`,
    );
    const c = r.control;
    lines.push(
      c === null
        ? 'control record: none (a new data dir, or one written by format version 1)'
        : `control record: snapshot ${c.snapshotSeq}, ${c.sealed.length} sealed segment(s), current segment ${c.currentSeq}` +
            (c.clean
              ? `, stopped cleanly at ${c.currentBytes} bytes`
              : ', not stopped cleanly (crash or running)'),
    );
    lines.push(
      `snapshot ${r.snapshotSeq === 0 ? 'none' : r.snapshotSeq}; ${r.segments.length} segment(s) after it; ${r.records} record(s) replayed`,
    );
    lines.push(`index: ${r.packages} packages, ${r.dependencies} dependencies; every record applies`);
    if (r.tornTailBytes > 0)
      lines.push(
        `torn tail: ${r.tornTailBytes} bytes after the last whole record of the last segment; the next start cuts them off. A crash mid-write leaves at most one group commit there, which durable mode had not acknowledged; if instead the file was cut short or damaged, records after the cut are lost, acknowledged or not, and cannot be told from here`,
      );
  }
  for (const loss of r.dataLoss) lines.push(`DATA LOSS: ${loss}`);
  if (r.damage !== null) lines.push(`DAMAGED [${r.damage.code}]: ${r.damage.message}`);
  lines.push(
    r.clean
      ? r.tornTailBytes > 0
        ? 'clean: the server starts on this data dir, without the torn tail above (nothing it acknowledged is lost if a crash left that tail; restore from a backup if the segment may have been cut)'
        : 'clean: the server starts on this data dir and loses nothing it acknowledged'
      : r.damage === null
        ? 'damaged: the server refuses to start (E_STORAGE_DATA_LOSS); restore from a backup, or start with --accept-data-loss to serve the index above'
        : r.damage.code === 'E_STORAGE_NO_INDEX'
          ? 'no index: the server refuses to start on this dir; see above for the ways out'
          : r.damage.code === 'E_RESTORE_INTERRUPTED'
            ? 'interrupted restore: the server refuses to start on this dir; run the restore again (see above)'
            : 'damaged: the server refuses to start; restore the data dir from a backup',
  );
  return lines.join('\n') + '\n';
}
