/**
 * `measure compaction`: what one compaction costs, per record folded. A sustained mutation load
 * makes the store fold a full segment (--compact-after-bytes, 64 MiB by default) every few
 * seconds, in a worker thread beside the one serving clients, so this cost comes out of the
 * server's throughput on a machine whose cores are busy.
 *
 * Builds one data dir with this build's DiskStore: the benchmark's mutation workload (INDEX and
 * REMOVE on the Homebrew list, half each) after its warm-up, all in one segment. Then folds that
 * segment into a snapshot (`foldSnapshot`, what the worker runs) once per run and build,
 * alternating the builds, each in a fresh process as a compaction in a fresh worker thread,
 * and reports the CPU time of the fold. With --warm the process folds the segment once before
 * the fold it measures, as a compaction in the thread the store keeps between compactions
 * (compaction-worker.ts). The builds must read this build's storage format.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DiskStore } from '../../src/store/disk-store.js';
import { defaultDataFile } from '../../src/bench/data-set.js';
import { buildScript, parseDataFile, parseMix, planWorkload } from '../../src/bench/workload.js';
import { Verb, type Command } from '../../src/protocol/command.js';
import { NodeFs } from '../../src/store/fs/node-fs.js';
import { openDataFile, scanFileFrames } from '../../src/store/format/frame-reader.js';
import { HEADER_BYTES, Magic } from '../../src/store/format/file-header.js';
import { ToolError } from '../support/errors.js';
import { intOption, parseToolArgs } from '../support/options.js';
import { repoRoot } from '../support/paths.js';
import { newDataDir, removeDataDir } from '../support/data-dir.js';
import { medianInterval } from '../support/median-interval.js';
import { median } from '../matrix/targets.js';

export const usage = `Usage: node dist/tools/measure.js compaction [options]

  --dist DIR      a build to measure (repeat to compare; default: this checkout's dist)
  --commands N    mutation commands run to fill the segment folded, after the workload's
                  warm-up (default 1000000; those that change nothing are not logged)
  --runs N        folds per build, alternating the builds (default 7)
  --warm          measure a second fold in the same process (a kept compaction thread)
                  instead of the first (a fresh one)
  --cpu-prof DIR  write each fold's V8 CPU profile into DIR (node --cpu-prof)`;

const FOLD = `
const [dist, dir, warm] = process.argv.slice(1);
const { foldSnapshot } = await import(new URL('src/store/compaction.js', dist).href);
const { NodeFs } = await import(new URL('src/store/fs/node-fs.js', dist).href);
const { readdirSync, rmSync } = await import('node:fs');
if (warm === 'warm') {
  await foldSnapshot(new NodeFs(), { dir, snapshotSeq: 0, fromSeq: 1, toSeq: 1 });
  for (const f of readdirSync(dir)) if (f.startsWith('snapshot-')) rmSync(dir + '/' + f);
}
const before = process.cpuUsage();
const started = performance.now();
await foldSnapshot(new NodeFs(), { dir, snapshotSeq: 0, fromSeq: 1, toSeq: 1 });
const cpu = process.cpuUsage(before);
console.log(JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000, wallMs: performance.now() - started }));
`;

/**
 * Runs `commands` of the benchmark's mutation workload, after its warm-up, on a DiskStore in a
 * new data dir; returns the dir and how many records its one segment holds.
 */
async function buildSegment(commands: number): Promise<{ dir: string; records: number }> {
  const dir = newDataDir('bench-compaction-');
  const plan = planWorkload(parseDataFile(readFileSync(defaultDataFile(), 'utf8')), 1);
  const script = buildScript(plan, parseMix('index=50,remove=50'), 1, 65_536);
  const text = script.bytes.toString('latin1');
  const lines: Command[] = [];
  for (let i = 0; i < script.length; i++) {
    const [verb = '', name = '', deps = ''] = text
      .slice(script.offsets[i], script.offsets[i + 1]! - 1)
      .split('|');
    lines.push(
      verb === 'INDEX'
        ? { verb: Verb.INDEX, name, deps: deps === '' ? [] : deps.split(',') }
        : { verb: Verb.REMOVE, name },
    );
  }
  const store = new DiskStore({ dataDir: dir, compactAfterBytes: 1 << 30 });
  await store.open();
  for (const spec of plan.warmup) store.execute({ verb: Verb.INDEX, name: spec.name, deps: spec.deps });
  for (let m = 0; m < commands; m++) {
    store.execute(lines[m % lines.length]!);
    if (m % 10_000 === 9_999) await store.barrier();
  }
  await store.barrier();
  await store.close();
  const segments = readdirSync(dir).filter((f) => f.startsWith('segment-'));
  if (segments.length !== 1) throw new ToolError(`expected one segment, found ${segments.join(', ')}`);
  return { dir, records: await countRecords(join(dir, segments[0]!)) };
}

/** Frames in the segment at `path`: the records a fold replays. */
async function countRecords(path: string): Promise<number> {
  const { file, size } = await openDataFile(new NodeFs(), path, Magic.SEGMENT);
  try {
    let records = 0;
    const scan = await scanFileFrames(file, size, HEADER_BYTES, 1 << 20, () => records++);
    if (scan.bad !== null) throw new ToolError(`${path}: ${scan.bad.reason} at ${scan.bad.offset}`);
    return records;
  } finally {
    await file.close();
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseToolArgs(
    argv,
    {
      dist: { type: 'string', multiple: true },
      commands: { type: 'string' },
      runs: { type: 'string' },
      warm: { type: 'boolean' },
      'cpu-prof': { type: 'string' },
    },
    usage,
  );
  const dists = (values.dist ?? [join(repoRoot(), 'dist')]).map((d) => pathToFileURL(resolve(d) + '/').href);
  const commands = intOption('--commands', values.commands, 1_000_000);
  const runs = intOption('--runs', values.runs, 7);
  const profile =
    values['cpu-prof'] === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${resolve(values['cpu-prof'])}`];
  const { dir, records } = await buildSegment(commands);
  try {
    const cpu: number[][] = dists.map(() => []);
    for (let run = 0; run < runs; run++)
      for (let d = 0; d < dists.length; d++) {
        for (const f of readdirSync(dir)) if (f.startsWith('snapshot-')) rmSync(join(dir, f));
        const out = execFileSync(
          process.execPath,
          [
            ...profile,
            '--input-type=module',
            '-e',
            FOLD,
            dists[d]!,
            dir,
            values.warm === true ? 'warm' : 'cold',
          ],
          {
            encoding: 'utf8',
          },
        );
        cpu[d]!.push((JSON.parse(out) as { cpuMs: number }).cpuMs);
      }
    console.log(
      `\nOne segment of ${records.toLocaleString('en')} records (the benchmark's mutations), folded ${runs} times per build, each ${values.warm === true ? 'after a first fold in the same process (--warm)' : 'in a fresh process'}:\n`,
    );
    console.log('| build | fold CPU ms: median (interval) | µs per record | against the first |');
    console.log('| --- | --- | --- | --- |');
    const first = median(cpu[0]!);
    for (let d = 0; d < dists.length; d++) {
      const m = median(cpu[d]!);
      const interval = medianInterval(cpu[d]!);
      const range = interval === null ? '' : ` (${interval.low.toFixed(0)}–${interval.high.toFixed(0)})`;
      console.log(
        `| ${dists[d]} | ${m.toFixed(0)}${range} | ${((1000 * m) / records).toFixed(3)} | ${(m / first).toFixed(3)} |`,
      );
    }
  } finally {
    removeDataDir(dir);
  }
  return 0;
}
