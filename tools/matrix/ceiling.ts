/** The C ceiling of the matrix (ceiling.c), built on demand with the machine's gcc. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ToolError } from '../support/errors.js';
import { outDir, repoRoot } from '../support/paths.js';

/**
 * Compiles tools/matrix/ceiling.c into tools/out/ceiling with the machine's gcc, unless the
 * binary is newer than the source. Returns the binary's path.
 */
export function buildCeiling(root = repoRoot()): string {
  const source = join(root, 'tools', 'matrix', 'ceiling.c');
  const out = outDir(root);
  const binary = join(out, 'ceiling');
  if (existsSync(binary) && statSync(binary).mtimeMs >= statSync(source).mtimeMs) return binary;
  mkdirSync(out, { recursive: true });
  // Built under a private name, then renamed: concurrent builds (test files run in parallel)
  // never exec a half-written binary, and a running ceiling keeps its own inode.
  const partial = `${binary}.${process.pid}.tmp`;
  try {
    execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-pthread', '-o', partial, source], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    renameSync(partial, binary);
  } catch (err) {
    rmSync(partial, { force: true });
    throw new ToolError(`cannot build the ceiling server with gcc (is gcc installed?): ${String(err)}`, {
      cause: err,
    });
  }
  return binary;
}

/**
 * The ceiling's arguments: listening on loopback at `port`, with `threads` epoll loops (each
 * its own SO_REUSEPORT socket; absent: one per online core), each making its calls one at a
 * time, or with `ring` a turn's reads and writes in one io_uring submission each (ADR 0023).
 */
export function ceilingArgs(port: number, threads?: number, ring = false): string[] {
  if (ring) return [String(port), '127.0.0.1', String(threads ?? 0), 'ring'];
  return threads === undefined ? [String(port)] : [String(port), '127.0.0.1', String(threads)];
}
