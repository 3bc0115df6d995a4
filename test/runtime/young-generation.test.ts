import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { loadBrewPackages } from '../../tools/stress/brew-packages.js';
import { runHarness } from '../../tools/stress/harness.js';
import { spawnServer } from '../support/servers.js';

// The pin is the whole process's (a V8 flag), so each case runs in a node process of its own.
const MODULE = new URL('../../src/runtime/young-generation.js', import.meta.url).href;

interface Outcome {
  /** The semi-space's capacity before the churn, after it, and what the watchdog reported. */
  readonly before: number;
  /** What the steps noted as \`mid\`, if anything. */
  readonly mid: number | null;
  readonly after: number;
  readonly pinned: number | null;
  readonly growths: { fromBytes: number; toBytes: number; workerStarting: boolean }[];
}

/**
 * Runs `steps` in a fresh node: `pinNow()` pins, `churn(n)` allocates objects that survive a few
 * scavenges (what makes V8 grow its young generation: 2e4 of them grow it one step, the default
 * 2e6 to its limit), `worker(repin)` starts a Worker and resolves when it has ended.
 */
function run(steps: string): Outcome {
  const script = `
    import { Worker } from 'node:worker_threads';
    import { pinYoungGeneration, repinAfter, semiSpaceBytes } from ${JSON.stringify(MODULE)};
    const growths = [];
    let pin = null;
    const pinNow = () => { pin = pinYoungGeneration((g) => growths.push(g)); };
    let mid = null;
    const churn = (n = 2e6) => {
      const keep = [];
      for (let i = 0; i < n; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 2e5) keep.splice(0, 1e5); }
    };
    const worker = (repin) => {
      const w = new Worker('setTimeout(() => {}, 20)', { eval: true });
      if (repin) repinAfter(w);
      return new Promise((resolve) => w.once('exit', resolve));
    };
    const before = semiSpaceBytes();
    ${steps}
    // The watchdog hears of the last collections on a later turn.
    await new Promise((resolve) => setTimeout(resolve, 50));
    pin?.stop();
    console.log(JSON.stringify({ before, mid, after: semiSpaceBytes(), pinned: pin?.bytes ?? null, growths }));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  return JSON.parse(out) as Outcome;
}

test('unpinned, the churn grows the young generation (so the cases below can fail)', () => {
  const { before, after } = run('churn();');
  assert.ok(after >= 4 * before, `the semi-space grew from ${before} to ${after} bytes`);
});

test('pinned, the young generation keeps its start size under the same churn', () => {
  const { before, after, pinned, growths } = run('pinNow(); churn();');
  assert.equal(after, before);
  assert.equal(pinned, before);
  assert.deepEqual(growths, []);
});

test("a Worker's start undoes the pin unless repinAfter sets it again", () => {
  const kept = run('pinNow(); await worker(true); churn();');
  assert.equal(kept.after, kept.before, 'repinAfter kept the pin');
  assert.deepEqual(kept.growths, []);

  // Nothing runs between the collections of one synchronous churn, so the watchdog can only
  // stop the growth at the next turn: a small churn grows it a step, a large one after the
  // watchdog's turn no further.
  const lost = run(
    'pinNow(); await worker(false); churn(2e4); await new Promise((r) => setTimeout(r, 20)); mid = semiSpaceBytes(); churn();',
  );
  assert.ok(lost.mid! > lost.before, `the small churn grew it (${lost.before} to ${lost.mid} bytes)`);
  assert.deepEqual(lost.growths[0], { fromBytes: lost.before, toBytes: lost.mid, workerStarting: false });
  assert.equal(lost.growths.length, 1);
  assert.equal(lost.after, lost.mid, 'pinned again where the watchdog found it');
  assert.equal(lost.pinned, lost.mid);
});

test("growth while a Worker starts, before repinAfter can pin again, is reported as the worker's", () => {
  // The main thread allocates without a break while the worker sets its heap up (which undoes
  // the pin): nothing can pin again until the churn yields, so the young generation grows.
  const raced = run(`
    pinNow();
    const exited = worker(true);
    const t0 = Date.now();
    while (semiSpaceBytes() === before && Date.now() - t0 < 10_000) churn(2e5);
    mid = semiSpaceBytes();
    await exited;
    churn();
  `);
  assert.ok(raced.mid! > raced.before, 'it grew while the worker started');
  assert.ok(raced.growths.length >= 1);
  assert.equal(raced.growths[0]!.fromBytes, raced.before);
  assert.ok(raced.growths.every((g) => g.workerStarting));
  assert.equal(raced.after, raced.pinned, 'pinned again once the worker ran');
});

/** `nodejs_heap_space_size_total_bytes{space="new"}` from a server's /metrics. */
async function newSpaceBytes(adminPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('nodejs_heap_space_size_total_bytes{space="new"}'));
  assert.ok(line !== undefined, 'the new space is in /metrics');
  return Number(line.split(' ').pop());
}

test('serve pins by default, and --pin-young-generation=false leaves the young generation to V8', async () => {
  const packages = loadBrewPackages();
  const sizes: Record<string, number> = {};
  for (const [label, args] of [
    ['pinned', []],
    ['unpinned', ['--pin-young-generation=false']],
  ] as const) {
    // Native I/O: its batches made V8 grow the young generation to 16 MiB semi-spaces.
    const server = await spawnServer({ io: 'native', args });
    try {
      await runHarness({ port: server.port, packages, clients: 100, seed: 1 });
      sizes[label] = await newSpaceBytes(server.adminPort);
      const pinnedEvent = server.events.find((e) => e['msg'] === 'young generation pinned');
      if (label === 'pinned') {
        assert.ok(pinnedEvent !== undefined, 'the pin is logged');
        // Two semi-spaces of the capacity it pinned, rounded up to V8's 256 KiB pages.
        const semi = Math.ceil(Number(pinnedEvent['semiSpaceBytes']) / 262144) * 262144;
        assert.ok(sizes[label] <= 2 * semi, `new space ${sizes[label]} bytes, semi-space ${semi}`);
      } else assert.equal(pinnedEvent, undefined);
      assert.equal(
        server.events.filter((e) => String(e['msg']).startsWith('V8 grew the young generation')).length,
        0,
      );
    } finally {
      assert.equal(await server.stop(), 0);
    }
  }
  assert.ok(
    sizes['unpinned']! > 2 * sizes['pinned']!,
    `unpinned ${sizes['unpinned']}, pinned ${sizes['pinned']} bytes`,
  );
});
