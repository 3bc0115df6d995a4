#!/usr/bin/env bash
# A/B benchmark: the same `pkgindex bench` load against two server configurations, in
# interleaved rounds (A, B, A, B, ...) so drift on a shared machine hits both alike.
#   npm run build && scripts/ab-bench.sh "--admin=false" "" [rounds] [bench options...]
# Prints ops/s and server CPU µs per op for each round, then the median B/A ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
A_ARGS=$1 B_ARGS=$2 ROUNDS=${3:-3}
shift 3 || shift $#
BENCH_ARGS=("$@")
[ ${#BENCH_ARGS[@]} -gt 0 ] || BENCH_ARGS=(--connections 100 --in-flight 32 --duration 4)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
port=$((20000 + RANDOM % 20000))
for round in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    args=$A_ARGS; [ "$side" = B ] && args=$B_ARGS
    # shellcheck disable=SC2086
    node dist/src/cli/main.js serve --host 127.0.0.1 --port "$port" --storage memory --admin-port 0 --quiet $args &
    pid=$!
    for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    node dist/src/cli/main.js bench --port "$port" --server-pid "$pid" --json "${BENCH_ARGS[@]}" > "$out/$side-$round.json"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
node - "$out" "$ROUNDS" <<'JS'
const [dir, rounds] = process.argv.slice(2);
const read = (s, r) => require(`${dir}/${s}-${r}.json`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ops = { A: [], B: [] }, cpu = { A: [], B: [] };
for (let r = 1; r <= Number(rounds); r++)
  for (const s of ['A', 'B']) {
    const j = read(s, r);
    if (j.protocolErrors !== 0) throw new Error(`${s} round ${r}: ${j.protocolErrors} protocol errors`);
    const us = (j.server.cpuSeconds * 1e6) / (j.opsPerSec * j.elapsedS);
    ops[s].push(j.opsPerSec); cpu[s].push(us);
    console.log(`round ${r} ${s}: ${Math.round(j.opsPerSec)} ops/s, server ${us.toFixed(3)} µs CPU/op, peak RSS ${(j.server.peakRssBytes / 1048576).toFixed(1)} MiB`);
  }
const ratios = (m) => m.A.map((a, i) => m.B[i] / a);
console.log(`B/A ops/s: median ${median(ratios(ops)).toFixed(3)} (rounds ${ratios(ops).map((x) => x.toFixed(3)).join(', ')})`);
console.log(`B/A server CPU per op: median ${median(ratios(cpu)).toFixed(3)} (rounds ${ratios(cpu).map((x) => x.toFixed(3)).join(', ')})`);
JS
