/** Renders a benchmark result for people (a table) and the progress line. */
import { allProtocolErrors, type BenchResult } from './run-bench.js';

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function formatCount(n: number): string {
  return int.format(n);
}

/** Microseconds, with a unit that keeps 3 significant digits readable. */
export function formatUs(us: number): string {
  if (us < 1000) return `${us.toPrecision(3)} µs`;
  if (us < 1_000_000) return `${(us / 1000).toPrecision(3)} ms`;
  return `${(us / 1_000_000).toPrecision(3)} s`;
}

export function formatBytes(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

export function progressLine(answered: number, elapsedS: number): string {
  const rate = elapsedS > 0 ? answered / elapsedS : 0;
  return `  ${elapsedS.toFixed(1)} s  ${formatCount(answered)} replies  ${formatCount(rate)} ops/s`;
}

/** The summary printed at the end of a run. */
export function formatSummary(r: BenchResult): string {
  const c = r.config;
  const l = r.latencyUs;
  const rows: [string, string][] = [
    ['target', `${c.host}:${c.port}${c.tls ? ' (TLS)' : ''}`],
    ['load', `${c.connections} connections × ${c.inFlight} in flight, ${c.threads} thread(s)`],
    ['workload', `${c.mix}, seed ${c.seed}${c.validate ? '' : ', replies not validated'}`],
    [
      'warm-up',
      `${formatCount(r.warmup.packages)} packages indexed in ${r.warmup.elapsedS.toFixed(2)} s (${r.warmup.skipped} unindexable skipped)`,
    ],
    ['replies', `${formatCount(r.answered)} in ${r.elapsedS.toFixed(2)} s`],
    ['throughput', `${formatCount(r.opsPerSec)} ops/s`],
    [
      'latency',
      `p50 ${formatUs(l.p50)}  p90 ${formatUs(l.p90)}  p99 ${formatUs(l.p99)}  p99.9 ${formatUs(l.p999)}  max ${formatUs(l.max)}`,
    ],
    [
      'replies by class',
      `OK ${formatCount(r.counts.ok)}  FAIL ${formatCount(r.counts.fail)}  ERROR ${formatCount(r.counts.error)}`,
    ],
    [
      'protocol errors',
      allProtocolErrors(r) === 0
        ? '0'
        : `${r.protocolErrors} (not a reply ${r.counts.bad}, unexpected class ${r.counts.unexpected}, unsolicited ${r.counts.unsolicited}, missing ${r.counts.missing}, socket errors ${r.counts.socketErrors}; warm-up ${r.warmup.protocolErrors}, clean-up ${r.cleanup?.protocolErrors ?? 0})`,
    ],
    [
      'clean-up',
      r.cleanup === null
        ? `none (--no-cleanup): ${formatCount(r.warmup.packages)} packages named "${c.prefix}…" left on the server`
        : `${formatCount(r.cleanup.packages)} packages named "${c.prefix}…" removed in ${r.cleanup.elapsedS.toFixed(2)} s${r.cleanup.protocolErrors === 0 ? '' : `, ${r.cleanup.protocolErrors} protocol errors`}`,
    ],
    ['client CPU', `${r.client.cpuSeconds.toFixed(2)} s (${r.client.cpuPercent.toFixed(0)} % of a core)`],
  ];
  const perReply = (seconds: number): string => ((1e6 * seconds) / Math.max(1, r.answered)).toFixed(2);
  if (r.server !== null)
    rows.push(
      [
        'server CPU',
        `${r.server.cpuSeconds.toFixed(2)} s (${r.server.cpuPercent.toFixed(0)} % of a core), pid ${r.server.pid}`,
      ],
      ['server peak RSS', formatBytes(r.server.peakRssBytes)],
      [
        'server syscalls',
        `${r.server.readCallsPerOp.toFixed(3)} reads and ${r.server.writeCallsPerOp.toFixed(3)} writes per reply; ${perReply(r.server.cpuSeconds)} µs CPU per reply (user ${perReply(r.server.userSeconds)} + kernel ${perReply(r.server.systemSeconds)})`,
      ],
      [
        'index owner',
        `${perReply(r.server.mainUserSeconds + r.server.mainSystemSeconds)} µs CPU per reply (user ${perReply(r.server.mainUserSeconds)} + kernel ${perReply(r.server.mainSystemSeconds)}): the server's main thread, the serial part`,
      ],
    );
  if (r.machineCpuPercent !== null)
    rows.push([
      'machine CPU',
      `${r.machineCpuPercent.toFixed(0)} % of a core in all, of which others ${Math.max(0, r.machineCpuPercent - r.client.cpuPercent - (r.server?.cpuPercent ?? 0)).toFixed(0)} %${r.server === null ? ' (server included: no --server-pid)' : ''}`,
    ]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}
