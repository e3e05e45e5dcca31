#!/usr/bin/env bash
# Soak: the release binary under a steady 500 webhooks/s (2,000 incidents created once, then
# updated over and over; every update delivered to the in-process Orange simulator) with
# retention in minutes. Prints the SQLite file and its WAL over time, the pages on SQLite's
# freelist and the rows the purge deleted: after the first retention period the file should
# stay flat (the purge frees pages, the inserts reuse them).
# Usage: benches/soak/run.sh [--minutes N] [--rate R] [--retention 2m] [--tickets T]
# All traffic on 127.0.0.1; bounded: the load stops after N minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
MINUTES=10 RATE=500 RETENTION=2m TICKETS=2000
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --retention) RETENTION=$2; shift 2 ;;
    --tickets) TICKETS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
# SOAK_BIN / SOAK_GEN run other builds (SOAK_NO_BUILD=1: use them as they are).
BIN=${SOAK_BIN:-target/release/itsm-bridge} GEN=${SOAK_GEN:-target/release/examples/soakgen}
[ "${SOAK_NO_BUILD:-}" = 1 ] || cargo build --release --bin itsm-bridge --example soakgen
export SOAK_DIR=$(mktemp -d) REPO=$PWD SOAK_RETENTION=$RETENTION
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$SOAK_DIR"' EXIT
PORT=18180
"$BIN" serve --config benches/soak/config.yaml --listen 127.0.0.1:$PORT \
  --sandbox --sim-listen 127.0.0.1:18181 &
for _ in $(seq 200); do curl -fs http://127.0.0.1:$PORT/readyz >/dev/null && break; sleep 0.1; done
SECS=$((MINUTES * 60))
"$GEN" "http://127.0.0.1:$PORT/webhooks/soak/servicenow" "$RATE" "$SECS" \
  soak:soak-password "$TICKETS" > "$SOAK_DIR/load.txt" &
LOAD=$!
echo "load $RATE/s for ${MINUTES} min, retention $RETENTION, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%6s %10s %10s %9s %9s %9s %8s %9s\n' t_s db_MiB wal_MiB free_pgs events pending waiting purged
sample() {
  local t=$1 db wal
  db=$(stat -c %s "$SOAK_DIR/soak.db" 2>/dev/null || echo 0)
  wal=$(stat -c %s "$SOAK_DIR/soak.db-wal" 2>/dev/null || echo 0)
  python3 - "$SOAK_DIR/soak.db" "$t" "$db" "$wal" "$(curl -fs http://127.0.0.1:$PORT/metrics || true)" <<'PY'
import sqlite3, sys
path, t, db, wal, metrics = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
c = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
free = c.execute("PRAGMA freelist_count").fetchone()[0]
events = c.execute("SELECT COUNT(*) FROM events").fetchone()[0]
pending = c.execute("SELECT COUNT(*) FROM deliveries WHERE state IN ('pending','in_flight') AND waiting_link IS NULL").fetchone()[0]
waiting = c.execute("SELECT COUNT(*) FROM deliveries WHERE waiting_link IS NOT NULL").fetchone()[0]
purged = sum(float(l.split()[-1]) for l in metrics.splitlines() if l.startswith("itsm_bridge_purged_rows_total"))
print(f"{t:6d} {db/2**20:10.1f} {wal/2**20:10.1f} {free:9d} {events:9d} {pending:9d} {waiting:8d} {purged:9.0f}")
PY
}
START=$(date +%s)
while kill -0 $LOAD 2>/dev/null; do
  sample $(( $(date +%s) - START ))
  sleep 30
done
sample $(( $(date +%s) - START ))
cat "$SOAK_DIR/load.txt"
