#!/usr/bin/env bash
# Ingest benchmark: acknowledged webhooks/s of the release binary with durable SQLite commits,
# beside a bare axum handler measured in the same run, then p99 latency at a fixed 5,000/s.
# Usage: benches/ingest/run.sh [SECONDS]   (all traffic on 127.0.0.1; bounded durations)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
source benches/lib.sh
need_wrk
cargo build --release --bin itsm-bridge --example bare_axum --example loadgen
export BENCH_DIR=$(mktemp -d) REPO=$PWD
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$BENCH_DIR"' EXIT

echo "== bare axum handler (JSON parse, 202) =="
target/release/examples/bare_axum 127.0.0.1:18090 & sleep 1
wrk -t2 -c64 -d"${SECS}s" --latency -s benches/ingest/post.lua http://127.0.0.1:18090/webhooks/bench/servicenow | grep -E 'Requests/sec|99%|Latency|non_2xx'
kill %1; wait %1 2>/dev/null || true

echo "== itsm-bridge (auth, schema, mapping, durable SQLite group commit) =="
target/release/itsm-bridge serve --config benches/ingest/config.yaml --listen 127.0.0.1:18080 & 
wait_ready 127.0.0.1:18080
wrk -t2 -c64 -d"${SECS}s" --latency -s benches/ingest/post.lua http://127.0.0.1:18080/webhooks/bench/servicenow | grep -E 'Requests/sec|99%|Latency|non_2xx'

echo "== itsm-bridge at a fixed 5,000/s (open loop) =="
curl -fs http://127.0.0.1:18080/metrics > "$BENCH_DIR/before.prom"
target/release/examples/loadgen http://127.0.0.1:18080/webhooks/bench/servicenow 5000 "$SECS" bench:bench-password
curl -fs http://127.0.0.1:18080/metrics > "$BENCH_DIR/after.prom"

# Where the slow answers of the open loop come from: for each histogram, what this phase added
# (count, total seconds, and how many took over 25 ms).
echo "== during the open loop: count, total s, over 25 ms =="
awk '
  FNR == 1 { phase++ }
  /^itsm_bridge_(ingest_commit|store_write_batch|store_fsync|store_wal_tail_copy|store_ticket_index_step)_seconds_(count|sum|bucket\{le="0\.025"\})/ {
    key = $1; sub(/\{.*/, "", key)
    v[phase, $1] = $2; name[$1] = key
  }
  END {
    for (k in name) if (k ~ /_count$/) {
      base = k; sub(/_count$/, "", base)
      n = v[2, k] - v[1, k]
      sum = v[2, base "_sum"] - v[1, base "_sum"]
      le = base "_bucket{le=\"0.025\"}"
      printf "%-45s %7d %8.3f %6d\n", base, n, sum, n - (v[2, le] - v[1, le])
    }
  }' "$BENCH_DIR/before.prom" "$BENCH_DIR/after.prom" | sort
