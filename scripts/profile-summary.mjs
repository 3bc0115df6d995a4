#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self and inclusive time per function,
// as % of all samples, and, given --per N, in nanoseconds per message for N messages.
// Usage: node scripts/profile-summary.mjs FILE.cpuprofile [--top 30] [--per MESSAGES]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string' }, per: { type: 'string' } },
});
const file = positionals[0];
if (file === undefined) {
  console.error('usage: profile-summary.mjs FILE.cpuprofile [--top N] [--per MESSAGES]');
  process.exit(2);
}
const top = Number(values.top ?? 30);
const per = values.per === undefined ? null : Number(values.per);
const profile = JSON.parse(readFileSync(file, 'utf8'));

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const label = (n) => {
  const f = n.callFrame;
  const where = f.url ? `${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
  return `${f.functionName || '(anonymous)'} ${where}`.trim();
};

const self = new Map();
const inclusive = new Map();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  total += dt;
  const node = byId.get(id);
  self.set(label(node), (self.get(label(node)) ?? 0) + dt);
  const seen = new Set();
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const l = label(byId.get(at));
    if (seen.has(l)) continue;
    seen.add(l);
    inclusive.set(l, (inclusive.get(l) ?? 0) + dt);
  }
});

const fmt = (us) => {
  const pct = `${((100 * us) / total).toFixed(1).padStart(5)} %`;
  return per === null ? pct : `${pct} ${((us * 1000) / per).toFixed(0).padStart(6)} ns/msg`;
};
const show = (title, map) => {
  console.log(`\n${title}`);
  for (const [l, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${fmt(us)}  ${l}`);
};
console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled`);
show('self time', self);
show('inclusive time', inclusive);
