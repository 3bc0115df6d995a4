/**
 * The entry point of a socket thread (a worker_threads Worker started by the index owner,
 * see socket-threads.ts): its own copy of the listening socket, its own IndexServer, whose
 * store is a RemoteStore that sends each turn's commands to the owner. Accepting, reading,
 * framing, parsing, rendering and writing happen here, in parallel with the other threads;
 * only executing the commands is serial, on the owner.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { IndexServer, type IndexServerOptions } from '../server/server.js';
import { ConnectionSlots } from '../server/connection-slots.js';
import { SharedPeerTable } from '../server/shared-peer-table.js';
import { RemoteStore } from './remote-store.js';
import { copyListeners } from './listener-copy.js';
import {
  FAILED_TAG,
  type ThreadHop,
  type ThreadStats,
  type ToOwner,
  type ToSocketThread,
} from './messages.js';
import { RingChannel } from './ring-channel.js';
import { ThreadLatency } from './thread-latency.js';

/** What the owner gives a socket thread. */
export interface SocketThreadData {
  readonly index: number;
  readonly fd: number;
  readonly options: IndexServerOptions;
  readonly logLevel: string;
  /** The process's count of open connections (ConnectionSlots). */
  readonly connections: SharedArrayBuffer;
  /** The process's table of peers (SharedPeerTable) and its size. */
  readonly peers: SharedArrayBuffer;
  readonly peerSlots: number;
  readonly statsIntervalMs: number;
  readonly hop: ThreadHop;
  /** The rings of `hop` ring and ring-doorbell: batches to the owner, replies from it. */
  readonly toOwner: SharedArrayBuffer;
  readonly fromOwner: SharedArrayBuffer;
  /** Largest batch sent as one (it must fit one ring record). */
  readonly maxBatchBytes: number;
  /** Bounds of the owner's latency histogram, or null when it exports no metrics. */
  readonly latencyBounds: readonly number[] | null;
  /**
   * The connection slots ([0]) and per-peer connections ([1 + slot]) this thread holds, which
   * the owner gives back if this thread dies (e.g. at its heap limit) holding them.
   */
  readonly held: SharedArrayBuffer;
}

const port = parentPort!;
const data = workerData as SocketThreadData;

function post(message: ToOwner, transfer?: ArrayBuffer[]): void {
  port.postMessage(message, transfer);
}

// Log events go to the owner's logger, which writes them with this thread's index.
const log = pino(
  { level: data.logLevel, base: null, timestamp: false },
  {
    write(line: string): void {
      post({ t: 'log', line });
    },
  },
);

const ring =
  data.hop === 'message'
    ? null
    : new RingChannel(
        data.toOwner,
        data.fromOwner,
        data.hop === 'ring' ? 'wait' : 'doorbell',
        () => {
          post({ t: 'doorbell' });
        },
        (payload, tag) => {
          // Copied: the replies are used after the ring has moved on.
          if (tag === FAILED_TAG) store.fail();
          else store.settle(Uint8Array.prototype.slice.call(payload, 0, tag));
        },
      );

const store = new RemoteStore(
  `thread-${data.index}`,
  ring === null
    ? (lines, count) => {
        const copy = Uint8Array.prototype.slice.call(lines); // a Buffer's slice() would not copy
        post({ t: 'batch', lines: copy, count }, [copy.buffer]);
      }
    : (lines, count) => {
        ring.send(lines, count);
      },
  data.maxBatchBytes,
);
ring?.start();

let server: IndexServer | null = null;
const latency = data.latencyBounds === null ? null : new ThreadLatency(data.latencyBounds);

function snapshot(s: IndexServer): ThreadStats {
  const st = s.stats;
  return {
    connectionsTotal: st.connectionsTotal,
    connectionsRefused: st.connectionsRefused,
    connectionsIdleClosed: st.connectionsIdleClosed,
    connectionsSharedReads: st.connectionsSharedReads,
    bytesIn: st.bytesIn,
    bytesOut: st.bytesOut,
    linesTooLong: st.linesTooLong,
    repliesFailedDurability: st.repliesFailedDurability,
    turnsYielded: st.turnsYielded,
    commandsSuspended: st.commandsSuspended,
    connectionsRefusedPerPeer: st.connectionsRefusedPerPeer,
    acceptErrors: st.acceptErrors,
    commandsRateLimited: st.commandsRateLimited,
    commandsOverPackageCap: st.commandsOverPackageCap,
    commandsOverDependencyCap: st.commandsOverDependencyCap,
    connectionsRefusedDescriptors: st.connectionsRefusedDescriptors,
    ioRingSubmissions: st.ioRingSubmissions,
    ioReadPauses: st.ioReadPauses,
    commands: Array.from(st.commands),
    latency: latency?.snapshot() ?? null,
    hop: ring === null ? null : { ...ring.counts },
    batches: store.batches,
    batchedCommands: store.batchedCommands,
  };
}

port.on('message', (message: ToSocketThread) => {
  switch (message.t) {
    case 'replies':
      store.settle(message.replies);
      break;
    case 'failed':
      store.fail();
      break;
    case 'stats':
      if (server !== null) post({ t: 'stats', stats: snapshot(server) });
      break;
    case 'drain':
      void drain();
      break;
    case 'doorbell':
      ring?.doorbell();
      break;
  }
});

async function drain(): Promise<void> {
  clearInterval(statsTimer);
  if (server !== null) {
    await server.close();
    post({ t: 'stats', stats: snapshot(server) });
  }
  ring?.close();
  post({ t: 'closed' });
}

const statsTimer = setInterval(() => {
  if (server !== null) post({ t: 'stats', stats: snapshot(server) });
}, data.statsIntervalMs);
statsTimer.unref();

try {
  // One copy to listen on, and the rest as this thread's accept lanes (ADR 0018).
  const [handle, ...lanes] = await copyListeners(data.fd, Math.max(1, data.options.acceptLanes ?? 1));
  server = new IndexServer(
    {
      store,
      log,
      listenHandle: handle,
      connectionSlots: new ConnectionSlots(
        data.options.maxConnections,
        new Int32Array(data.connections),
        new Int32Array(data.held, 0, 1),
      ),
      peerTable: new SharedPeerTable(
        data.peers,
        data.peerSlots,
        new Int32Array(data.held, 4, data.peerSlots),
      ),
    },
    data.options,
  );
  server.stats.commandLatency = latency;
  await server.listen();
  await server.addAcceptLanes(lanes);
  post({ t: 'listening' });
} catch (err) {
  post({ t: 'start-failed', reason: err instanceof Error ? err.message : String(err) });
}
