/**
 * What Linux's /proc tells about another process: CPU time consumed and peak resident memory.
 * Used to report what the server under test spent, from outside it.
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export interface ProcSample {
  /** User + system CPU time, in seconds, since the process started. */
  readonly cpuSeconds: number;
  /** The parts of cpuSeconds spent in user space and in the kernel. */
  readonly userSeconds: number;
  readonly systemSeconds: number;
  /**
   * The same two for the process's main thread alone (/proc/<pid>/task/<pid>/stat): in
   * `pkgindex serve` the thread that owns the index and executes every command, the serial
   * part of the server's work whatever its thread count.
   */
  readonly mainUserSeconds: number;
  readonly mainSystemSeconds: number;
  /** Peak resident set size (VmHWM), in bytes, since the process started. */
  readonly peakRssBytes: number;
  readonly rssBytes: number;
  /** read- and write-like system calls (syscr, syscw of /proc/<pid>/io) since the process started. */
  readonly readCalls: number;
  readonly writeCalls: number;
}

let clockTicks: number | undefined;

/** USER_HZ, the unit of utime and stime; 100 on every Linux seen, asked of getconf once. */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) is in parentheses and may hold spaces
 * or parentheses itself, so fields are counted from the last `)`: utime and stime are fields
 * 14 and 15 of the line.
 */
export function parseStatCpuTicks(stat: string): number {
  const { user, system } = parseStatUserSystemTicks(stat);
  return user + system;
}

/** utime and stime of a /proc/<pid>/stat line, apart, in clock ticks. */
export function parseStatUserSystemTicks(stat: string): { user: number; system: number } {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  return { user: Number(rest[11]), system: Number(rest[12]) };
}

/** Reads a `Name:   1234 kB` line of /proc/<pid>/status, in bytes; 0 when absent. */
export function parseStatusKb(status: string, key: string): number {
  const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
  return match === null ? 0 : Number(match[1]) * 1024;
}

/** Reads a `key: 1234` line of /proc/<pid>/io; 0 when absent. */
export function parseIoCount(io: string, key: string): number {
  const match = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(io);
  return match === null ? 0 : Number(match[1]);
}

/** Samples a process; null when it is gone or /proc is not there (not Linux). */
export function sampleProcess(pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const main = parseStatUserSystemTicks(readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8'));
    const { user, system } = parseStatUserSystemTicks(stat);
    return {
      cpuSeconds: (user + system) / ticksPerSecond(),
      userSeconds: user / ticksPerSecond(),
      systemSeconds: system / ticksPerSecond(),
      mainUserSeconds: main.user / ticksPerSecond(),
      mainSystemSeconds: main.system / ticksPerSecond(),
      peakRssBytes: parseStatusKb(status, 'VmHWM'),
      rssBytes: parseStatusKb(status, 'VmRSS'),
      readCalls: parseIoCount(io, 'syscr'),
      writeCalls: parseIoCount(io, 'syscw'),
    };
  } catch {
    return null;
  }
}

/** Busy and total time of all CPUs together, in clock ticks, from the first line of /proc/stat. */
export interface MachineSample {
  readonly busyTicks: number;
  readonly totalTicks: number;
}

/** Parses the aggregate `cpu` line of /proc/stat: idle and iowait are not busy. */
export function parseMachineStat(stat: string): MachineSample {
  const fields = (stat.split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  const totalTicks = fields.reduce((a, b) => a + b, 0);
  return { busyTicks: totalTicks - (fields[3] ?? 0) - (fields[4] ?? 0), totalTicks };
}

export function sampleMachine(): MachineSample | null {
  try {
    return parseMachineStat(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return null;
  }
}
