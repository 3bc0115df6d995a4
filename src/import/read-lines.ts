/**
 * Reads import sources as lines: files or stdin (`-`), plain or compressed. Compression is
 * recognised by its magic bytes, not the file name, so `apt` lists saved under any name work.
 * gzip is decompressed in-process (node:zlib); xz, lz4, bzip2 and zstd have no decoder in
 * Node, so the system's own tool is run (`xz -dc`, ...) rather than adding a native module.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { createError, isPkgIndexError } from '../errors.js';

interface Compression {
  readonly name: string;
  readonly magic: readonly number[];
  /** The program that decompresses to stdout, and the Debian package that ships it. */
  readonly tool?: { readonly command: string; readonly apt: string };
}

const COMPRESSIONS: readonly Compression[] = [
  { name: 'gzip', magic: [0x1f, 0x8b] },
  { name: 'xz', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], tool: { command: 'xz', apt: 'xz-utils' } },
  { name: 'lz4', magic: [0x04, 0x22, 0x4d, 0x18], tool: { command: 'lz4', apt: 'lz4' } },
  { name: 'bzip2', magic: [0x42, 0x5a, 0x68], tool: { command: 'bzip2', apt: 'bzip2' } },
  { name: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd], tool: { command: 'zstd', apt: 'zstd' } },
];

function detect(head: Buffer): Compression | undefined {
  return COMPRESSIONS.find((c) => c.magic.length <= head.length && c.magic.every((b, i) => head[i] === b));
}

/** Bytes read from the sources so far, before decompression: what import progress shows. */
export interface ReadCounter {
  bytes: number;
}

/** The source's bytes, decompressed; `counter` counts them as read, compressed. */
async function* bytes(path: string, counter: ReadCounter): AsyncGenerator<Buffer> {
  const input: AsyncIterable<Buffer> = path === '-' ? process.stdin : createReadStream(path);
  const iterator = input[Symbol.asyncIterator]();
  let first: IteratorResult<Buffer>;
  try {
    first = await iterator.next();
  } catch (cause) {
    throw createError('E_IMPORT_FORMAT', `cannot read ${path}: ${(cause as Error).message}; check the path`, {
      cause,
    });
  }
  if (first.done === true) return;
  counter.bytes += first.value.length;
  const compression = detect(first.value);
  const rest = async function* (): AsyncGenerator<Buffer> {
    yield first.value;
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) return;
      counter.bytes += next.value.length;
      yield next.value;
    }
  };
  if (compression === undefined) {
    yield* rest();
    return;
  }
  if (compression.tool === undefined) {
    const gunzip = createGunzip();
    const feeding = pipeline(Readable.from(rest()), gunzip);
    // Awaited below; a corrupt stream also fails the loop first, which must not leave this unhandled.
    feeding.catch(() => undefined);
    try {
      for await (const chunk of gunzip) yield chunk as Buffer;
      await feeding;
    } catch (cause) {
      throw createError('E_IMPORT_FORMAT', `${path} is not valid gzip data: ${(cause as Error).message}`, {
        cause,
      });
    }
    return;
  }
  yield* throughTool(path, compression.name, compression.tool, rest());
}

async function* throughTool(
  path: string,
  format: string,
  tool: { readonly command: string; readonly apt: string },
  input: AsyncIterable<Buffer>,
): AsyncGenerator<Buffer> {
  const help =
    `${path} is ${format}-compressed; pkgindex decompresses ${format} with the \`${tool.command}\` program. ` +
    `Install it (apt-get install ${tool.apt}) or decompress first: ${tool.command} -dc ${path} > packages.txt`;
  const child = spawn(tool.command, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  // Awaited below; this only stops a spawn failure from counting as unhandled meanwhile.
  exited.catch(() => undefined);
  // A failed tool closes its stdin early; that error is reported through the exit status.
  const feeding = pipeline(Readable.from(input), child.stdin).catch(() => undefined);
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    const code = await exited;
    await feeding;
    if (code !== 0)
      throw createError(
        'E_IMPORT_FORMAT',
        `${tool.command} could not decompress ${path} (exit ${String(code)}): ${Buffer.concat(stderr).toString().trim()}`,
      );
  } catch (cause) {
    if (isPkgIndexError(cause, 'E_IMPORT_FORMAT')) throw cause;
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT')
      throw createError('E_IMPORT_FORMAT', help, { cause });
    throw createError('E_IMPORT_FORMAT', `${help} (${(cause as Error).message})`, { cause });
  } finally {
    if (child.exitCode === null) child.kill();
  }
}

/**
 * The lines of the sources, one after the other, without their `\n` (or `\r\n`). An empty
 * line is inserted between two sources so that a stanza cannot run across files. `counter`,
 * when given, counts the bytes read (compressed) as they arrive.
 */
export async function* readLines(
  paths: readonly string[],
  counter: ReadCounter = { bytes: 0 },
): AsyncGenerator<string> {
  for (let p = 0; p < paths.length; p++) {
    if (p > 0) yield '';
    const decoder = new StringDecoder('utf8');
    let carry = '';
    for await (const chunk of bytes(paths[p]!, counter)) {
      const text = carry + decoder.write(chunk);
      let start = 0;
      for (;;) {
        const nl = text.indexOf('\n', start);
        if (nl < 0) break;
        yield text.charCodeAt(nl - 1) === 0x0d && nl > start
          ? text.slice(start, nl - 1)
          : text.slice(start, nl);
        start = nl + 1;
      }
      carry = text.slice(start);
    }
    carry += decoder.end();
    if (carry !== '') yield carry.endsWith('\r') ? carry.slice(0, -1) : carry;
  }
}
