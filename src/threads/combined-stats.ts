import { COMMAND_ROWS, ServerStats } from '../server/stats.js';
import type { ThreadStats } from './messages.js';

type Counter = Exclude<keyof ThreadStats, 'commands' | 'latency' | 'hop' | 'batches' | 'batchedCommands'>;

const COUNTERS: readonly Counter[] = [
  'connectionsTotal',
  'connectionsRefused',
  'connectionsIdleClosed',
  'connectionsSharedReads',
  'bytesIn',
  'bytesOut',
  'linesTooLong',
  'repliesFailedDurability',
  'turnsYielded',
  'commandsSuspended',
  'connectionsRefusedPerPeer',
  'acceptErrors',
  'commandsRateLimited',
  'commandsOverPackageCap',
  'commandsOverDependencyCap',
  'connectionsRefusedDescriptors',
  'ioRingSubmissions',
  'ioReadPauses',
];

/**
 * The counters of every thread's server seen as one ServerStats, for the metrics: each
 * counter read is the main thread's value now plus the socket threads' last reports (at most
 * a second old, see SocketThreads) or the native I/O threads' counters now; the open
 * connections are the process's count (`open`).
 * Command latency: the socket threads' samples are added to the main thread's histogram as
 * their reports arrive (see SocketThreads).
 */
export function combinedStats(
  main: ServerStats,
  reports: () => readonly (ThreadStats | null)[],
  open: () => number,
): ServerStats {
  const combined = Object.create(ServerStats.prototype) as ServerStats;
  const sum = (key: Counter): number => {
    let total = main[key];
    for (const report of reports()) if (report !== null) total += report[key];
    return total;
  };
  const properties: PropertyDescriptorMap = {
    connectionsOpen: { get: open, enumerable: true },
    sharedReadBuffer: { get: () => main.sharedReadBuffer, enumerable: true },
    commandLatency: {
      get: () => main.commandLatency,
      set: (value: ServerStats['commandLatency']) => {
        main.commandLatency = value;
      },
      enumerable: true,
    },
    commands: {
      get: () => {
        const commands = new Float64Array(COMMAND_ROWS.length * 3);
        commands.set(main.commands);
        for (const report of reports())
          if (report !== null)
            for (let i = 0; i < commands.length; i++) commands[i]! += report.commands[i] ?? 0;
        return commands;
      },
      enumerable: true,
    },
  };
  for (const key of COUNTERS) properties[key] = { get: () => sum(key), enumerable: true };
  Object.defineProperties(combined, properties);
  return combined;
}
