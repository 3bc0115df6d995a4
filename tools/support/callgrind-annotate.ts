/**
 * Reading callgrind's output for the instruction-count tools (`measure instructions`,
 * `measure server-instructions`): its per-function costs, with V8's generated code named from
 * node's perf map (`--perf-basic-prof-only-functions`), which callgrind alone shows as bare
 * addresses.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { ToolError } from './errors.js';

/** One entry of node's perf map: generated code at [start, start + size). */
export interface PerfMapEntry {
  readonly start: number;
  readonly size: number;
  readonly name: string;
  /** Its line's place in the map: V8 appends, so a larger one was mapped later. */
  readonly order: number;
}

/** Parses node's `/tmp/perf-PID.map` (`START SIZE NAME`, hex), sorted by start. */
export function parsePerfMap(text: string): PerfMapEntry[] {
  const entries: PerfMapEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.+)$/.exec(line);
    if (m === null) continue;
    entries.push({
      start: parseInt(m[1]!, 16),
      size: parseInt(m[2]!, 16),
      name: m[3]!,
      order: entries.length,
    });
  }
  return entries.sort((a, b) => a.start - b.start);
}

/**
 * The name of the code at `address`; the last mapped entry wins where code was re-mapped
 * (V8 reuses addresses after a function is collected or re-optimized). Null if unmapped.
 */
export function nameAt(entries: readonly PerfMapEntry[], address: number): string | null {
  let found: PerfMapEntry | null = null;
  for (const e of entries) {
    if (e.start > address) break;
    if (address < e.start + e.size && (found === null || e.order > found.order)) found = e;
  }
  return found?.name ?? null;
}

/**
 * Rows of `callgrind_annotate` (self cost, the default): instructions per function, generated
 * code named from `entries` (empty: every address is "JIT code (unmapped)") (`JS:*parseInto file:///…/parse.js:97:26` becomes `*parseInto
 * parse.js:97`) and summed per name.
 */
export function selfCosts(annotated: string, entries: readonly PerfMapEntry[]): Map<string, number> {
  const costs = new Map<string, number>();
  for (const line of annotated.split('\n')) {
    const m = /^\s*([\d,]+)\s+(?:\([\s\d.]+%\)\s+)?(\S.*)$/.exec(line);
    if (m === null || line.includes('PROGRAM TOTALS')) continue;
    let name = m[2]!.replace(/^\?\?\?:/, '').replace(/ \[[^\]]*\]$/, '');
    const address = /^0x([0-9a-f]+)$/.exec(name);
    if (address !== null) {
      const mapped = nameAt(entries, parseInt(address[1]!, 16));
      name =
        mapped === null
          ? 'JIT code (unmapped)'
          : mapped.replace(/^JS:/, '').replace(/file:\/\/\/\S*\/([^/]+\.js):(\d+):\d+/, '$1:$2');
    }
    costs.set(name, (costs.get(name) ?? 0) + Number(m[1]!.replaceAll(',', '')));
  }
  return costs;
}

/**
 * A callgrind output file's totals by event: its `events:` line (`Ir`, and with the cache
 * simulation `Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw`) zipped with its `totals:` line. Null
 * when either is missing (callgrind did not finish).
 */
export function eventTotals(text: string): Map<string, number> | null {
  const events = /^events:\s*(.+)$/m.exec(text)?.[1]?.trim().split(/\s+/);
  const totals = /^totals:\s*(.+)$/m.exec(text)?.[1]?.trim().split(/\s+/);
  if (events === undefined || totals === undefined) return null;
  return new Map(events.map((event, i) => [event, Number(totals[i] ?? 0)]));
}

/** Runs `command` to completion; its stdout, or a ToolError with its stderr. */
export async function runCommand(command: string, args: readonly string[]): Promise<string> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const [code] = (await Promise.race([
    once(child, 'close'),
    once(child, 'error').then(([e]) => {
      throw new ToolError(`cannot run ${command}: ${(e as Error).message} (apt-get install valgrind)`);
    }),
  ])) as [number | null];
  if (code !== 0)
    throw new ToolError(`${command} ${args.join(' ')} exited with ${String(code)}: ${err.trim()}`);
  return out;
}
