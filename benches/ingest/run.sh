#!/usr/bin/env bash
# Ingest benchmark: acknowledged webhooks/s of the release binary with durable SQLite commits,
# beside a bare axum handler measured in the same run, then p99 latency at a fixed 5,000/s.
# Usage: benches/ingest/run.sh [SECONDS]   (all traffic on 127.0.0.1; bounded durations)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
cargo build --release --bin itsm-bridge --example bare_axum --example loadgen
export BENCH_DIR=$(mktemp -d) REPO=$PWD
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$BENCH_DIR"' EXIT

echo "== bare axum handler (JSON parse, 202) =="
target/release/examples/bare_axum 127.0.0.1:18090 & sleep 1
wrk -t2 -c64 -d"${SECS}s" --latency -s benches/ingest/post.lua http://127.0.0.1:18090/webhooks/bench/servicenow | grep -E 'Requests/sec|99%|Latency|non_2xx'
kill %1; wait %1 2>/dev/null || true

echo "== itsm-bridge (auth, schema, mapping, durable SQLite group commit) =="
target/release/itsm-bridge serve --config benches/ingest/config.yaml --listen 127.0.0.1:18080 & 
for _ in $(seq 100); do curl -fs http://127.0.0.1:18080/readyz >/dev/null && break; sleep 0.1; done
wrk -t2 -c64 -d"${SECS}s" --latency -s benches/ingest/post.lua http://127.0.0.1:18080/webhooks/bench/servicenow | grep -E 'Requests/sec|99%|Latency|non_2xx'

echo "== itsm-bridge at a fixed 5,000/s (open loop) =="
target/release/examples/loadgen http://127.0.0.1:18080/webhooks/bench/servicenow 5000 "$SECS" bench:bench-password
