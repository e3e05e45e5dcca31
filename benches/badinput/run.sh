#!/usr/bin/env bash
# Bad-input run: the release binary against hostile and careless requests — nested JSON, huge
# numbers, invalid UTF-8, NUL, lone surrogates, 40 concurrent authenticated and 200
# unauthenticated 10 MiB webhooks, slow heads, slow bodies, 2,000 idle connections — with the
# gateway's peak RSS (VmHWM, reset per phase) and open descriptors after each phase.
# Usage: benches/badinput/run.sh   (all traffic on 127.0.0.1; every phase is bounded)
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --bin itsm-bridge --example badinput
export BENCH_DIR=$(mktemp -d) REPO=$PWD
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$BENCH_DIR"' EXIT
# 2,000 idle connections and 500 slow ones: both ends need the descriptors.
ulimit -n "$(ulimit -Hn)"

target/release/itsm-bridge serve --config benches/badinput/config.yaml --listen 127.0.0.1:18070 &
GW=$!
for _ in $(seq 100); do curl -fs http://127.0.0.1:18070/readyz >/dev/null && break; sleep 0.1; done
target/release/examples/badinput http://127.0.0.1:18070/webhooks/bench/servicenow "$GW" bench:bench-password
kill -0 "$GW" && echo "the gateway is still up"
