#!/bin/bash
# Piped `pkgindex client` throughput (docs/reliability.md, "Admin port and clients"): one
# `pkgindex serve` of this build, then per round N fresh `INDEX|name|` lines piped through the
# baseline client (BASELINE_CLI, default the build of 18b07b4 at /work/baseline), this build with
# --retries 0, and this build with the default --retries 5. Wall time of the whole client process.
#   N=100000 ROUNDS=3 STORAGE="--storage memory" scripts/client-pipe-throughput.sh
#   N=5000 ROUNDS=2 STORAGE="--storage disk --data-dir $(mktemp -d)" scripts/client-pipe-throughput.sh
set -e
cd "$(dirname "$0")/.."
LOG=$(mktemp)
LINES=$(mktemp)
node dist/src/cli/main.js serve --host 127.0.0.1 --port 0 ${STORAGE:---storage memory} --admin=false > "$LOG" 2>&1 &
SRV=$!
trap 'kill $SRV; rm -f "$LOG" "$LINES"' EXIT
for _ in $(seq 50); do grep -q '"listening"' "$LOG" && break; sleep 0.2; done
PORT=$(grep '"listening"' "$LOG" | sed 's/.*"port":\([0-9]*\).*/\1/')
N=${N:-20000}
for round in $(seq "${ROUNDS:-3}"); do
  for who in ${WHO:-baseline retries0 default}; do
    case $who in
      baseline) CLI=${BASELINE_CLI:-/work/baseline/dist/src/cli/main.js}; EXTRA=();;
      retries0) CLI=dist/src/cli/main.js; EXTRA=(--retries 0);;
      default) CLI=dist/src/cli/main.js; EXTRA=();;
    esac
    node -e "for (let i = 0; i < $N; i++) console.log('INDEX|$who-$round-p' + i + '|')" > "$LINES"
    s=$(date +%s.%N)
    replies=$(node "$CLI" client --port "$PORT" "${EXTRA[@]}" < "$LINES" | sort | uniq -c | tr -s ' \n' ' ')
    e=$(date +%s.%N)
    echo "$who round $round: $(echo "$N / ($e - $s)" | bc) lines/s ($(echo "$e - $s" | bc) s; replies:$replies)"
  done
done
