#!/usr/bin/env bash
# User and kernel CPU of the server per request, from /proc/PID/stat read just before and just
# after one `pkgindex bench` run (so startup and module loading are not counted).
#   npm run build && scripts/server-cpu-split.sh LABEL "serve args" [bench options...]
# e.g. scripts/server-cpu-split.sh per-read "--shared-read-buffer=false" --connections 100 --in-flight 1 --duration 3
# The server runs in memory with the admin server on a free port; alternate configurations
# run by run, since the machine's other load moves every figure.
set -euo pipefail
cd "$(dirname "$0")/.."
label=$1 serve_args=$2
shift 2
port=$((20000 + RANDOM % 20000))
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# shellcheck disable=SC2086
node dist/src/cli/main.js serve --host 127.0.0.1 --port "$port" --storage memory --admin-port 0 --quiet $serve_args &
pid=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
sleep 0.3
read -r -a before < "/proc/$pid/stat"
node dist/src/cli/main.js bench --port "$port" --server-pid "$pid" --json "$@" > "$out"
read -r -a after < "/proc/$pid/stat"
kill "$pid"; wait "$pid" 2>/dev/null || true
ticks=$(getconf CLK_TCK)
node - "$out" "$label" "$((after[13] - before[13]))" "$((after[14] - before[14]))" "$ticks" <<'JS'
const [file, label, user, sys, ticks] = process.argv.slice(2);
const j = JSON.parse(require('node:fs').readFileSync(file, 'utf8'));
const ops = j.opsPerSec * j.elapsedS;
const us = (t) => ((Number(t) / Number(ticks)) * 1e6) / ops;
console.log(
  `${label}: ${Math.round(j.opsPerSec)} ops/s, server user ${us(user).toFixed(2)} µs + kernel ${us(sys).toFixed(2)} µs CPU per request, ` +
    `peak RSS ${(j.server.peakRssBytes / 1048576).toFixed(1)} MiB, protocol errors ${j.protocolErrors}`,
);
JS
