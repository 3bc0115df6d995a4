/**
 * Data dirs for the tools' servers. A server makes a data dir that does not exist, with a new
 * index in it (`--create-index=missing`, the default), and refuses an existing one without an
 * index (it may be an emptied index): so a fresh run gets a path inside a new temporary
 * directory, not the temporary directory itself. Works the same with older builds (`--a-cli`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** `<base>/<prefix>XXXXXX/data`: its parent exists, it does not. */
export function newDataDir(prefix: string, base: string = tmpdir()): string {
  return join(mkdtempSync(join(base, prefix)), 'data');
}

/** Removes a dir made by newDataDir, with the temporary directory around it. */
export function removeDataDir(dir: string): void {
  rmSync(dirname(dir), { recursive: true, force: true });
}
