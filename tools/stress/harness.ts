/**
 * The challenge's official test harness, redone: for the stress test in the suite
 * (test/conformance/) and for figures (`node dist/tools/measure.js stress`).
 */
import { LineClient } from '../support/line-client.js';

/** A small seeded PRNG (mulberry32): the same seed replays the same run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Lines that must get ERROR, in the spirit of the challenge harness's "unlucky" messages. */
function brokenMessage(random: () => number, name: string): string {
  const kinds = [
    () => `INDEX|${name}\u2603|`,
    () => `BLINDEX|${name}|`,
    () => `index|${name}|`,
    () => `INDEX|${name}`,
    () => `QUERY|${name}|x|`,
    () => `REMOVE|${name}|${name}`,
    () => `INDEX||${name}`,
    () => `INDEX|${name}|a,,b`,
    () => `INDEX|${name}|a,`,
    () => `INDEX|${name} ${name}|`,
    () => `QUERY|${name}\u{1F600}|`,
    () => '',
    () => '|||',
    () =>
      String.fromCharCode(
        ...Array.from({ length: 1 + Math.floor(random() * 40) }, () => 32 + Math.floor(random() * 95)),
      ).replaceAll('|', '') + '|',
  ];
  return kinds[Math.floor(random() * kinds.length)]!();
}

export interface HarnessReport {
  readonly messages: number;
  readonly broken: number;
  readonly elapsedMs: number;
}

/**
 * Does what the challenge's official test harness does: packages split among concurrent
 * clients; each brute-forces REMOVE of its share until all are gone, then INDEX until all
 * are indexed (FAILs are retried, since dependencies belong to other clients), with a chance
 * before each message of first sending a broken one that must get ERROR; then QUERY expecting
 * OK; then REMOVE until gone; then QUERY expecting FAIL. Throws on the first wrong reply.
 */
export async function runHarness(options: {
  /** Several ports: the clients are spread over them in turn (instances sharing one database). */
  port: number | readonly number[];
  packages: ReadonlyMap<string, readonly string[]>;
  clients: number;
  seed: number;
  unluckiness?: number;
  /** Called at the end of the index phase, with all clients idle. */
  afterIndex?: () => Promise<void>;
}): Promise<HarnessReport> {
  const { port, packages, clients, seed } = options;
  const unluckiness = options.unluckiness ?? 0.25;
  const random = prng(seed);
  const names = [...packages.keys()];
  for (let i = names.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [names[i], names[j]] = [names[j]!, names[i]!];
  }
  const shares = Array.from({ length: clients }, (_, c) => names.filter((_, i) => i % clients === c));
  const ports = typeof port === 'number' ? [port] : port;
  const connections = await Promise.all(shares.map((_, c) => LineClient.open(ports[c % ports.length]!)));
  const randoms = shares.map((_, c) => prng(seed * 1000 + c));
  let messages = 0;
  let broken = 0;
  const started = performance.now();

  async function send(c: number, line: string): Promise<string> {
    const conn = connections[c]!;
    const rnd = randoms[c]!;
    if (rnd() < unluckiness) {
      const bad = brokenMessage(rnd, line.split('|')[1] ?? 'x');
      const [reply] = await conn.request(bad);
      broken++;
      messages++;
      if (reply !== 'ERROR')
        throw new Error(`broken message ${JSON.stringify(bad)} got ${reply ?? 'nothing'}`);
    }
    messages++;
    const [reply] = await conn.request(line);
    return reply!;
  }

  /** Each client repeats `line(pkg)` over its share until every one is answered `want`. */
  async function bruteForce(line: (pkg: string) => string, want: string, phase: string): Promise<void> {
    await Promise.all(
      shares.map(async (share, c) => {
        let left = share;
        for (let round = 0; left.length > 0; round++) {
          if (round > 10_000) throw new Error(`${phase}: no progress, ${left.length} left`);
          const again: string[] = [];
          for (const pkg of left) {
            const reply = await send(c, line(pkg));
            if (reply === want) continue;
            if (reply !== 'FAIL') throw new Error(`${phase} ${pkg}: got ${reply}`);
            again.push(pkg);
          }
          left = again;
          if (left.length > 0) await new Promise((r) => setImmediate(r));
        }
      }),
    );
  }

  async function expectAll(line: (pkg: string) => string, want: string, phase: string): Promise<void> {
    await Promise.all(
      shares.map(async (share, c) => {
        for (const pkg of share) {
          const reply = await send(c, line(pkg));
          if (reply !== want) throw new Error(`${phase} ${pkg}: expected ${want}, got ${reply}`);
        }
      }),
    );
  }

  try {
    await bruteForce((p) => `REMOVE|${p}|`, 'OK', 'remove (clean start)');
    await bruteForce((p) => `INDEX|${p}|${packages.get(p)!.join(',')}`, 'OK', 'index');
    await options.afterIndex?.();
    await expectAll((p) => `QUERY|${p}|`, 'OK', 'query after index');
    await bruteForce((p) => `REMOVE|${p}|`, 'OK', 'remove');
    await expectAll((p) => `QUERY|${p}|`, 'FAIL', 'query after remove');
  } finally {
    for (const conn of connections) conn.close();
  }
  return { messages, broken, elapsedMs: performance.now() - started };
}

/**
 * Checks over the protocol that the index holds every dependency edge: each package that
 * another depends on must refuse REMOVE (and stay indexed).
 */
export async function checkConsistency(
  port: number,
  packages: ReadonlyMap<string, readonly string[]>,
): Promise<number> {
  const required = new Set<string>();
  for (const deps of packages.values()) for (const d of deps) required.add(d);
  const conn = await LineClient.open(port);
  try {
    const lines = [...required].map((p) => `REMOVE|${p}|`);
    const replies = await conn.request(...lines);
    const wrong = replies.map((r, i) => [lines[i], r]).filter(([, r]) => r !== 'FAIL');
    if (wrong.length > 0) throw new Error(`inconsistent index: ${JSON.stringify(wrong.slice(0, 5))}`);
    const queries = await conn.request(...[...packages.keys()].map((p) => `QUERY|${p}|`));
    const missing = queries.filter((r) => r !== 'OK').length;
    if (missing > 0) throw new Error(`inconsistent index: ${missing} packages not indexed`);
    return required.size;
  } finally {
    conn.close();
  }
}
