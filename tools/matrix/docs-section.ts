/** The docs rewriter: the matrix as Markdown, spliced into its section of docs/benchmarks.md. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { formatBytes, formatCount, formatUs } from '../../src/bench/report.js';
import type { Cell, MatrixResult, ServerKind } from './run-matrix.js';
import { cpuPerReply } from './run-matrix.js';
import { cell, median, roundRatios } from './targets.js';
import { formatHostSpeed } from './host-probe.js';

/** The "Standard matrix" section of docs/benchmarks.md, in Markdown. */
export function formatMatrixMarkdown(m: MatrixResult): string {
  const out: string[] = [];
  out.push(
    `Measured ${m.date.slice(0, 16).replace('T', ' ')} UTC with \`${m.command}\` (${m.options.rounds} interleaved rounds of ${m.options.durationS} s per cell, seed ${m.options.seed}, ${m.options.threads} client thread(s), ${m.options.roundTripCpu === null ? 'no CPU pinning' : `1×1 cells pinned to CPU ${m.options.roundTripCpu}, server and client both`}) on ${m.machine.cores} cores, ${m.machine.cpu}, Node ${m.machine.node}; load average at start ${m.machine.loadavg}. ${formatHostSpeed(m.machine.hostSpeed)}`,
    '',
    '| load | server | ops/s | × ceiling | p50 | p99 | p99.9 | max | server CPU | server CPU per reply (user + kernel; main thread) | client CPU | client-bound | others CPU | server peak RSS | protocol errors |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |',
  );
  for (const c of m.cells) {
    const r = c.result;
    if (r === null) {
      out.push(`| ${c.shape.label} | ${c.server} | ${c.unavailable ?? ''} | | | | | | | | | | | | |`);
      continue;
    }
    const ceiling = cell(m.cells, c.shape.id, 'ceiling');
    const ratios = ceiling?.result ? roundRatios(c, ceiling) : [];
    const ratio =
      c.server === 'ceiling'
        ? '1'
        : ratios.length === 0
          ? ''
          : c.clientBound === true || ceiling?.clientBound === true
            ? 'not claimed'
            : ratios.length === 1
              ? ratios[0]!.toFixed(2)
              : `${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
    const l = r.latencyUs;
    out.push(
      `| ${c.shape.label} | ${c.server} | ${formatCount(r.opsPerSec)} | ${ratio} | ${formatUs(l.p50)} | ${formatUs(l.p99)} | ${formatUs(l.p999)} | ${formatUs(l.max)} | ${r.server ? `${r.server.cpuPercent.toFixed(0)} %` : ''} | ${cpuPerReply(r)} | ${r.client.cpuPercent.toFixed(0)} % | ${c.clientBound === true ? 'yes' : 'no'} | ${c.othersCpuPercent === null ? '' : `${c.othersCpuPercent.toFixed(0)} %`} | ${r.server ? formatBytes(r.server.peakRssBytes) : ''} | ${c.errorsAllRounds} |`,
    );
  }
  out.push(...floorTable(m));
  out.push('', '| target | required | measured | met |', '| --- | --- | --- | --- |');
  for (const t of m.targets)
    out.push(
      `| ${t.label} | ${t.required} | ${t.measured} | ${t.met === null ? 'not measured' : t.met ? 'yes' : 'NO'} |`,
    );
  out.push(
    '',
    'Each shape runs in rounds: ceiling (one epoll loop per core, SO_REUSEPORT), the same ceiling on one thread (ceiling-1t: what a server whose system calls all run on one thread can reach on this machine, the bound of every one-thread kind below), that thread with each turn\'s reads and writes in one io_uring submission each (ceiling-ring-1t, as pkgindex\'s native layer makes them, ADR 0023: on this host the best any server reaches, and the reference of the "vs the ring ceiling" targets), the Node floor (one Node event loop answering OK to every line with pkgindex\'s read path: what any server on one Node thread can reach; the second table compares pkgindex with it), in memory with Node\'s sockets (`--io node`) and one thread per core, in memory with Node\'s sockets on one thread (memory-1t, the default of `pkgindex serve` until stop 48), in memory with the native connection layer (memory-native: `--io native --threads 1`, what `pkgindex serve` runs by default where the layer is built: the C++ layer accepts, reads and writes on the event loop of the index owner, and every line still runs there, ADR 0019), durable (one thread per core), durable on one thread (durable-1t), durable with the native connection layer (durable-native), then again; the row shows the round with the median ops/s, "× ceiling" the median of the per-round ratios (and their range), and the targets use those medians. Loads: strict = 1 request in flight per connection; pipelined = 32. Mixed = query 80, index 10, remove 10 (weights); mutations = index 50, remove 50. CPU columns are % of one core over the measured window; server CPU per reply is user + kernel CPU time divided by replies, which does not depend on the client, and its main thread\'s alone (in pkgindex the index owner, which executes every command: the serial part, whose CPU per reply bounds the throughput any number of cores can reach); a cell is client-bound when the load generator used at least 90 % of its threads\' CPU, and then no ratio is claimed from it; "others" is every other process on the machine (this machine is shared), so a cell with high "others" is less trustworthy. Peak RSS is VmHWM since the server started, warm-up included.',
  );
  return out.join('\n');
}

/** A median of per-round ratios and their range, or why there is none. */
function ratioText(num: Cell | undefined, den: Cell | undefined): string {
  if (num?.result == null || den?.result == null) return 'not measured';
  if (num.clientBound === true || den.clientBound === true) return 'not claimed';
  const ratios = roundRatios(num, den);
  if (ratios.length === 0) return 'not measured';
  if (ratios.length === 1) return ratios[0]!.toFixed(2);
  return `${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
}

/**
 * pkgindex against the Node floor (tools/matrix/node-floor.ts), per shape: how much of what a
 * Node event loop can do pkgindex does, beside how much of the C ceiling that loop reaches.
 */
function floorTable(m: MatrixResult): string[] {
  const shapes = [...new Map(m.cells.map((c) => [c.shape.id, c.shape])).values()];
  const rows = shapes
    .filter((shape) => cell(m.cells, shape.id, 'node-floor')?.result != null)
    .map((shape) => {
      const of = (server: ServerKind): Cell | undefined => cell(m.cells, shape.id, server);
      return `| ${shape.label} | ${ratioText(of('node-floor'), of('ceiling'))} | ${ratioText(of('memory-1t'), of('node-floor'))} | ${ratioText(of('memory'), of('node-floor'))} | ${ratioText(of('durable'), of('node-floor'))} | ${ratioText(of('durable-1t'), of('node-floor'))} | ${ratioText(of('memory-native'), of('node-floor'))} |`;
    });
  if (rows.length === 0) return [];
  return [
    '',
    '| load | Node floor × ceiling | memory-1t × Node floor | memory × Node floor | durable × Node floor | durable-1t × Node floor | memory-native × Node floor |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ];
}

export const SECTION_START =
  '<!-- bench-matrix:start (written by `npm run bench`; edits inside are overwritten) -->';
export const SECTION_END = '<!-- bench-matrix:end -->';

const DOC_HEADER = `# Benchmarks

Measured figures of pkgindex, one section per subject. Sections between \`bench-…:start\` and
\`bench-…:end\` markers are written by tools; the rest is prose by people.

## Standard matrix

What \`npm run bench\` measures: each load shape against the C ceiling (\`tools/matrix/ceiling.c\`, a
server answering \`OK\\n\` to every line, with one write per read), then pkgindex in memory, then
pkgindex durable, each as a fresh server process loaded by a fresh \`pkgindex bench\` process.
Read the ratios, not the absolute figures: the machine is shared, and the ceiling is measured
right before each pkgindex cell so that both see about the same neighbours.
`;

/** Replaces the matrix section of `doc` (or appends it, or creates the document). */
export function spliceMatrixSection(doc: string | null, body: string): string {
  const block = `${SECTION_START}\n${body}\n${SECTION_END}`;
  if (doc === null) return `${DOC_HEADER}\n${block}\n`;
  const start = doc.indexOf(SECTION_START);
  const end = doc.indexOf(SECTION_END);
  if (start >= 0 && end > start) return doc.slice(0, start) + block + doc.slice(end + SECTION_END.length);
  return `${doc.trimEnd()}\n\n## Standard matrix\n\n${block}\n`;
}

export function writeMatrixSection(path: string, m: MatrixResult): void {
  const doc = existsSync(path) ? readFileSync(path, 'utf8') : null;
  writeFileSync(path, spliceMatrixSection(doc, formatMatrixMarkdown(m)));
}
