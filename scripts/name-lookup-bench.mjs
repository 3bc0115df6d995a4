#!/usr/bin/env node
// What one lookup of a package name costs the index, by data structure: the graph's Map, an
// object used as a dictionary, and an open-addressing table hashing the string in JS. The
// names are the benchmark workload's (3,359), decoded through the parser's NameCache as the
// server gets them (the same string object for the same name), looked up in the order of the
// workload's lines. One structure per process (V8 rewrites a string used as an object key into
// a pointer to its internalized copy, which would change what the others measure). CPU ns per
// lookup, loop overhead subtracted, minimum of --rounds rounds. Everything fits in the CPU's
// caches here, unlike in the server, where the rest of the work evicts the index between reads.
// Usage: node scripts/name-lookup-bench.mjs --structure Map|object|table[-interned] [--dist DIR] [--seconds 1] [--rounds 5]
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    dist: { type: 'string' },
    structure: { type: 'string' },
    seconds: { type: 'string' },
    rounds: { type: 'string' },
  },
});
const dist = pathToFileURL(resolve(values.dist ?? 'dist')).href;
const structure = values.structure ?? 'Map';
const seconds = Number(values.seconds ?? 1);
const rounds = Number(values.rounds ?? 5);

const wl = await import(`${dist}/src/bench/workload.js`);
const { NameCache } = await import(`${dist}/src/protocol/name-cache.js`);

const plan = wl.planWorkload(
  wl.parseDataFile(readFileSync('test/fixtures/brew-dependencies.txt', 'utf8')),
  1,
);
const script = wl.buildScript(plan, wl.DEFAULT_MIX, 1, 65_536);
const bytes = Buffer.from(script.bytes);
const cache = new NameCache();
const stream = [];
const distinct = new Set();
for (let i = 0; i < script.length; i++) {
  const start = script.offsets[i];
  const end = script.offsets[i + 1] - 1; // without '\n'
  const p1 = bytes.indexOf(0x7c, start);
  const p2 = bytes.indexOf(0x7c, p1 + 1);
  if (p1 < 0 || p2 < 0 || p2 >= end + 1) continue;
  const name = cache.decode(bytes, p1 + 1, p2);
  stream.push(name);
  distinct.add(name);
}

class Entry {
  constructor(name) {
    this.name = name;
    this.deps = [];
    this.dependents = 0;
    this.visited = 0;
  }
}

/** Open addressing, linear probing, FNV-1a of the string's char codes. */
class NameTable {
  constructor(capacity) {
    this.mask = capacity - 1;
    this.keys = new Array(capacity).fill('');
    this.values = new Array(capacity).fill(null);
  }
  static hash(s) {
    let h = 0x811c9dc5 | 0;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    return h ^ (h >>> 16);
  }
  set(key, value) {
    let i = NameTable.hash(key) & this.mask;
    while (this.keys[i] !== '' && this.keys[i] !== key) i = (i + 1) & this.mask;
    this.keys[i] = key;
    this.values[i] = value;
  }
  get(key) {
    let i = NameTable.hash(key) & this.mask;
    for (;;) {
      const k = this.keys[i];
      if (k === key) return this.values[i];
      if (k === '') return undefined;
      i = (i + 1) & this.mask;
    }
  }
}

// An object's property keys are internalized strings: V8 compares two of them by address.
const intern = (s) => Object.keys({ [s]: 0 })[0];
if (structure.endsWith('-interned')) for (let j = 0; j < stream.length; j++) stream[j] = intern(stream[j]);
const names = new Set(stream);

let get;
if (structure.startsWith('Map')) {
  const map = new Map();
  for (const name of names) map.set(name, new Entry(name));
  get = (name) => map.get(name);
} else if (structure.startsWith('object')) {
  const dict = Object.create(null);
  for (const name of names) dict[name] = new Entry(name);
  get = (name) => dict[name];
} else if (structure.startsWith('table')) {
  const table = new NameTable(8192);
  for (const name of names) table.set(name, new Entry(name));
  get = (name) => table.get(name);
} else throw new Error(`unknown --structure ${structure}`);

let sink = 0;

function measure(withLookup) {
  const best = [];
  for (let r = 0; r < rounds; r++) {
    let n = 0;
    const cpu0 = process.cpuUsage();
    const until = performance.now() + seconds * 1000;
    while (performance.now() < until) {
      if (withLookup) for (let j = 0; j < stream.length; j++) sink += get(stream[j]).dependents + 1;
      else for (let j = 0; j < stream.length; j++) sink += stream[j].length;
      n += stream.length;
    }
    const cpu = process.cpuUsage(cpu0);
    best.push(((cpu.user + cpu.system) * 1000) / n);
  }
  return Math.min(...best);
}

const base = measure(false);
const cost = measure(true) - base;
console.log(
  `${structure}: ${cost.toFixed(1)} ns/lookup (${distinct.size} names, ${stream.length} lookups, loop ${base.toFixed(1)} ns subtracted${sink > 0 ? '' : '!'})`,
);
