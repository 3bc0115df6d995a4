// What scripts/hot-path-bench.mjs and scripts/durable-hot-path-bench.mjs share: real server
// modules from a build (--dist), a stub socket, the benchmark's workload cut into read-sized
// chunks, and a logger that writes nowhere.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Writable } from 'node:stream';

/**
 * The server's modules from the build in `distDir` (another build can be compared with this
 * one), and `newConnection(id, socket, { store, stats, limits, log, scratch })` that calls that
 * build's Connection constructor, whichever it has: (id, socket, context) since the composition
 * root, eight positional arguments before.
 */
export async function importServer(distDir) {
  const dist = pathToFileURL(resolve(distDir)).href;
  const { Connection } = await import(`${dist}/src/server/connection.js`);
  const onClosed = () => {};
  return {
    newConnection(id, socket, context) {
      if (Connection.length !== 8) return new Connection(id, socket, { ...context, onClosed });
      const { store, stats, limits, log, scratch } = context;
      return new Connection(id, socket, store, stats, limits, log, scratch, onClosed);
    },
    ServerStats: (await import(`${dist}/src/server/stats.js`)).ServerStats,
    ReplyScratch: (await import(`${dist}/src/server/reply-scratch.js`)).ReplyScratch,
    MemoryStore: (await import(`${dist}/src/store/memory-store.js`)).MemoryStore,
    DiskStore: (await import(`${dist}/src/store/disk-store.js`)).DiskStore,
    createLogger: (await import(`${dist}/src/observability/logger.js`)).createLogger,
  };
}

/** A socket that accepts every write and never pushes back. */
export class StubSocket extends EventEmitter {
  writableLength = 0;
  bytes = 0;
  setNoDelay() {}
  setTimeout() {}
  pause() {}
  resume() {}
  end() {}
  destroy() {}
  write(buf) {
    this.bytes += buf.length;
    return true;
  }
}

/**
 * The benchmark's seeded workload over the Homebrew fixture, from this checkout's build (so
 * every --dist gets the same lines): the warm-up and the measured script, as chunks of
 * `batch` lines each. `mix` is a --mix spec; `defaultMix` the spec used without one (else the
 * benchmark's default mix).
 */
export async function loadWorkload({ mix: mixSpec, defaultMix, batch }) {
  const wl = await import(pathToFileURL(resolve('dist/src/bench/workload.js')).href);
  const plan = wl.planWorkload(
    wl.parseDataFile(readFileSync('test/fixtures/brew-dependencies.txt', 'utf8')),
    1,
  );
  const spec = mixSpec ?? defaultMix;
  const mix = spec === undefined ? wl.DEFAULT_MIX : wl.parseMix(spec);
  const chunksOf = (s) => {
    const out = [];
    for (let i = 0; i < s.length; i += batch) {
      const end = Math.min(i + batch, s.length);
      out.push(Buffer.from(s.bytes.subarray(s.offsets[i], s.offsets[end])));
    }
    return out;
  };
  const script = wl.buildScript(plan, mix, 1, 65_536);
  const chunks = chunksOf(script);
  return {
    mixLabel: wl.formatMix(mix),
    warmup: chunksOf(wl.buildWarmupScript(plan)),
    chunks,
    linesPerChunk: script.length / chunks.length,
  };
}

/** A logger at info level that writes nowhere. */
export function silentLogger(createLogger) {
  return createLogger(
    { level: 'info', quiet: true, pretty: false },
    new Writable({ write: (_c, _e, cb) => cb() }),
  );
}
