#!/usr/bin/env bash
# Load test of the simulators: a release build of `itsm-bridge sim` on 127.0.0.1 and wrk
# doing GET /incident/b2b/v1/incidents/{id} with a valid token and API key (the full path:
# journal + fault check + token check + lookup). Bounded: DURATION seconds (default 15).
# Usage: benches/sim/run.sh [DURATION] [CONNECTIONS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${1:-15}"
CONNECTIONS="${2:-64}"
THREADS="${3:-2}"
PORT="${SIM_BENCH_PORT:-18181}"
BASE="http://127.0.0.1:${PORT}"

command -v wrk >/dev/null || { sudo -n true 2>/dev/null && SUDO=sudo || SUDO=; $SUDO apt-get install -y wrk; }
cargo build --release --bin itsm-bridge

./target/release/itsm-bridge sim --listen "127.0.0.1:${PORT}" >/tmp/sim-bench.log 2>&1 &
SIM_PID=$!
trap 'kill "$SIM_PID" 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -fs "$BASE/_sim/faults" >/dev/null && break; sleep 0.1; done

TOKEN=$(curl -fs -u sandbox:sandbox-secret -H 'Accept: application/json' \
  -d grant_type=client_credentials "$BASE/oauth/v3/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
ID=$(curl -fs -H "Authorization: Bearer $TOKEN" -H 'X-Api-Key: sandbox-api-key' -H 'Content-Type: application/json' \
  -d '{"shortDescription":"bench","externalReference":"BENCH-1"}' "$BASE/incident/b2b/v1/incidents" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s GET /incident/b2b/v1/incidents/$ID"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
  -H "Authorization: Bearer $TOKEN" -H 'X-Api-Key: sandbox-api-key' \
  "$BASE/incident/b2b/v1/incidents/$ID"
