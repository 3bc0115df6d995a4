/**
 * `measure perf-categories`: sorts the samples of `perf record -e cpu-clock -p <server pid>`
 * (server run with `node --perf-basic-prof`) into the parts of the server's work, by symbol.
 * cpu-clock samples count CPU time only, kernel included, unlike --cpu-prof's wall-clock
 * samples. Reads `perf report` output on stdin.
 */
import { createInterface } from 'node:readline';
import { ToolUsageError } from '../support/errors.js';

export const usage = `Usage: perf report -i perf.data --no-children --sort sym --stdio -g none \\
         | node dist/tools/measure.js perf-categories [µs CPU per reply]

With the server's CPU time per reply (from pkgindex bench --server-pid), each part is also
given in ns per reply.`;

const CATEGORIES: readonly (readonly [string, RegExp])[] = [
  [
    'kernel: scheduler, wake-ups',
    /\[k\] (finish_task_switch|__schedule|schedule|_raw_spin_unlock_irqrestore|try_to_wake_up|ttwu|enqueue|dequeue|update_|select_task|pick_next|psi_)/,
  ],
  ['kernel: TCP/IP, sockets, syscalls, epoll', /\[k\] /],
  [
    'index: graph rules and Map lookups',
    /dependency-graph\.js|apply-command\.js|memory-store\.js|FindOrderedHashMapEntry|OrderedHashMap|StringEqual/,
  ],
  [
    'parse: parseLine, names',
    /parse\.js|name-cache\.js|StringSlice|NewStringFromOneByte|latin1|ComputeAndSetRawHash|node:buffer:(662|834)/,
  ],
  ['framer: line splitting', /framer\.js|memchr|node:buffer:(966|1011)/],
  ['connection: replies, stats, writes', /connection\.js|reply\.js|stats\.js|levelVal/],
  [
    'node streams, libuv, callbacks',
    /node:internal\/streams|stream_base_commons|node:net|node:events|task_queues|uv_|uv__|node::|libuv|AsyncWrap|MakeCallback|timers/,
  ],
  ['garbage collection', /Scavenge|Sweep|Heap::|MarkCompact|Evacuat|Marking|GCTracer|Minor|Concurrent/],
  ['V8 runtime, other JS', /Builtins_|v8::|JS:|Runtime_|Stub/],
  ['libc, other', /./],
];

export async function main(argv: readonly string[]): Promise<number> {
  const [perReplyUs, ...extra] = argv;
  if (extra.length > 0 || (perReplyUs !== undefined && !(Number(perReplyUs) > 0)))
    throw new ToolUsageError(usage);
  const totals = new Map(CATEGORIES.map(([name]) => [name, 0]));
  let sum = 0;
  for await (const line of createInterface({ input: process.stdin })) {
    const m = /^\s+([\d.]+)%\s+(.*)$/.exec(line);
    if (m === null) continue;
    const pct = Number(m[1]);
    sum += pct;
    const name = CATEGORIES.find(([, re]) => re.test(m[2]!))![0];
    totals.set(name, totals.get(name)! + pct);
  }
  const perReplyNs = perReplyUs === undefined ? null : Number(perReplyUs) * 1000;
  for (const [name, pct] of [...totals].sort((a, b) => b[1] - a[1])) {
    const ns = perReplyNs === null ? '' : `${((pct / sum) * perReplyNs).toFixed(0).padStart(6)} ns/reply`;
    console.log(`${pct.toFixed(1).padStart(5)} %  ${ns}  ${name}`);
  }
  return 0;
}
