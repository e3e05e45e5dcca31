#!/usr/bin/env bash
# PostgreSQL benchmark (issue 7): the release binary on a fresh PostgreSQL database, with one
# and with three replicas sharing it.
#   ingest    acknowledged/s and p99: wrk (closed loop, 64 connections, every event makes one
#             Orange call), then the open-loop generator at a fixed rate (p99 that a slow
#             answer cannot hide); with 3 replicas the load is spread over the three.
#   delivery  end-to-end deliveries/s to the standalone simulator (rate limit off): a queue of
#             DELIVERIES is accepted first (dispatchers off), then the replicas are started
#             with their dispatchers and drain it; the rate is done ÷ (last − first finish).
# Each scenario gets its own fresh database (created and dropped here) and prints one
# summary line with the 1-minute load average at its end (the machine is shared).
#
# Usage: benches/pg/run.sh [SECONDS]   (all traffic on 127.0.0.1; every step is bounded)
#   PG=postgres://postgres@127.0.0.1:5432   server (trust auth; the database is created)
#   OPEN_RATE=3000      total open-loop rate, split evenly over the replicas
#   DELIVERIES=20000    size of the queue drained by the delivery scenarios
#   SKIP_BUILD=1        reuse target/release/itsm-bridge and target/release/examples/loadgen
#   BIN=… LOADGEN=…     other binaries (e.g. a copy of an earlier build, to compare)
#   SCENARIOS="ingest1 ingest3 delivery1 delivery3"   a subset, in that order
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
OPEN_RATE=${OPEN_RATE:-3000}
DELIVERIES=${DELIVERIES:-20000}
SCENARIOS=${SCENARIOS:-ingest1 ingest3 delivery1 delivery3}
source benches/lib.sh
need_wrk
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --bin itsm-bridge --example loadgen
BIN=${BIN:-target/release/itsm-bridge}
LOADGEN=${LOADGEN:-target/release/examples/loadgen}
PORTS=(18281 18282 18283)
SIM=127.0.0.1:18289
DB=bench_pg_$$
export REPO=$PWD BENCH_DB_URL=$PG/$DB BENCH_SIM_URL=http://$SIM BENCH_DELIVERY=false
WORK=$(mktemp -d)
REPLICAS=()

sql() { PGOPTIONS="-c client_min_messages=warning" psql "$PG/${2:-$DB}" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }

stop_replicas() {
    for pid in "${REPLICAS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${REPLICAS[@]}"; do wait "$pid" 2>/dev/null || true; done
    REPLICAS=()
}
cleanup() {
    stop_replicas
    [ -z "${SIM_PID:-}" ] || { kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null || true; }
    sql "DROP DATABASE IF EXISTS $DB" postgres || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 130" INT TERM

fresh_db() {
    stop_replicas
    sql "DROP DATABASE IF EXISTS $DB" postgres
    sql "CREATE DATABASE $DB" postgres
}

# start_replicas N: N gateways on PORTS (BENCH_DELIVERY says whether they deliver), ready.
start_replicas() {
    local i port
    for ((i = 0; i < $1; i++)); do
        port=${PORTS[$i]}
        "$BIN" serve --config benches/pg/config.yaml --listen "127.0.0.1:$port" \
            2>>"$WORK/replica-$port.log" &
        REPLICAS+=($!)
    done
    for ((i = 0; i < $1; i++)); do
        port=${PORTS[$i]}
        wait_ready "127.0.0.1:$port" || { tail "$WORK/replica-$port.log"; exit 1; }
    done
    for pid in "${REPLICAS[@]}"; do
        kill -0 "$pid" 2>/dev/null || { echo "a replica exited (port taken?)"; cat "$WORK"/replica-*.log; exit 1; }
    done
}


# wrk over N replicas: prints "acknowledged/s p99 non2xx".
wrk_run() {
    local n=$1 out
    out=$(BENCH_EVENTS=deliveries BENCH_ADDRS=$(addrs "${PORTS[@]:0:$n}") wrk -t"$((n > 1 ? n : 2))" -c63 \
        -d"${SECS}s" --latency -s benches/ingest/post.lua "http://127.0.0.1:${PORTS[0]}/webhooks/bench/servicenow")
    echo "$out" >>"$WORK/wrk.log"
    echo "$out" | awk '/Requests\/sec/ {r = $2} / 99%/ {p = $2} /status_non_2xx/ {split($1, a, "="); e = a[2]} END {print r, p, e}'
}

ingest() {
    local n=$1 tenants=(bench bench2 bench3) i w=() lines
    fresh_db
    BENCH_DELIVERY=false start_replicas "$n"
    read -r rps p99 non2xx < <(wrk_run "$n")
    local events deliveries
    IFS='|' read -r events deliveries < <(sql "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM deliveries)")
    echo "ingest replicas=$n wrk -c63 ${SECS}s: $rps acknowledged/s, p99 $p99, non-2xx $non2xx ($events events, $deliveries deliveries stored), load $(load)"
    # Open loop: one generator per replica, each on its own tenant, RATE/n each.
    for ((i = 0; i < n; i++)); do
        "$LOADGEN" "http://127.0.0.1:${PORTS[$i]}/webhooks/${tenants[$i]}/servicenow" \
            "$((OPEN_RATE / n))" "$SECS" bench:bench-password >"$WORK/open-$i.txt" &
        w+=($!)
    done
    for pid in "${w[@]}"; do wait "$pid"; done
    lines=$(cat "$WORK"/open-*.txt)
    rm -f "$WORK"/open-*.txt
    echo "$lines" >>"$WORK/open.log"
    # "... N acknowledged (R/s), E errors; latency p50 A ms, p99 B ms, ..." per generator.
    echo "ingest replicas=$n open loop $OPEN_RATE/s ${SECS}s: $(echo "$lines" |
        sed -E 's/.*\(([0-9]+)\/s\), ([0-9]+) errors; latency p50 ([0-9.]+) ms, p99 ([0-9.]+) ms.*/\1 \2 \3 \4/' |
        awk '{ ack += $1; err += $2; if ($3 > p50) p50 = $3; if ($4 > p99) p99 = $4 }
             END { printf "%d acknowledged/s, %d errors, p99 %.2f ms (p50 %.2f ms; worst generator)", ack, err, p99, p50 }'), load $(load)"
    stop_replicas
}

delivery() {
    local n=$1 left
    fresh_db
    # Accept the queue with one replica, dispatcher off: DELIVERIES events, one call each.
    BENCH_DELIVERY=false start_replicas 1
    # wrk's threads stop after BENCH_MAX answers, but wrk itself waits out -d: stop it once
    # the queue is full.
    BENCH_EVENTS=deliveries BENCH_MAX=$((DELIVERIES / 2)) wrk -t2 -c32 -d120s \
        -s benches/ingest/post.lua "http://127.0.0.1:${PORTS[0]}/webhooks/bench/servicenow" >>"$WORK/wrk.log" &
    local loader=$!
    for _ in $(seq 1200); do
        [ "$(sql "SELECT count(*) FROM deliveries")" -ge "$DELIVERIES" ] && break
        kill -0 "$loader" 2>/dev/null || break
        sleep 0.1
    done
    sleep 0.5 # answers in flight
    kill "$loader" 2>/dev/null || true
    wait "$loader" 2>/dev/null || true
    stop_replicas
    local queued
    queued=$(sql "SELECT count(*) FROM deliveries WHERE state = 'pending'")
    BENCH_DELIVERY=true start_replicas "$n"
    for _ in $(seq 600); do
        left=$(sql "SELECT count(*) FROM deliveries WHERE state IN ('pending', 'in_flight')")
        [ "$left" = 0 ] && break
        sleep 0.5
    done
    local l
    l=$(load)
    stop_replicas
    sql "SELECT count(*) FILTER (WHERE state = 'done'), count(*) FILTER (WHERE state = 'dead'),
                count(*) FILTER (WHERE state IN ('pending', 'in_flight')),
                max(finished_at) - min(finished_at)
         FROM deliveries" | awk -F'|' -v n="$n" -v q="$queued" -v l="$l" '
        { printf "delivery replicas=%d: %d of %d delivered in %.2f s = %.0f deliveries/s (dead %d, left %d), load %s\n",
                 n, $1, q, $4 / 1000, $1 * 1000 / ($4 > 0 ? $4 : 1), $2, $3, l }'
}

"$BIN" sim --listen "$SIM" 2>"$WORK/sim.log" &
SIM_PID=$!
sleep 0.5
kill -0 "$SIM_PID" 2>/dev/null || { echo "the simulator exited (port taken?)"; cat "$WORK/sim.log"; exit 1; }
for _ in $(seq 100); do curl -s -o /dev/null "http://$SIM/" && break; sleep 0.1; done

echo "== PostgreSQL $(sql 'SHOW server_version' postgres), fsync $(sql 'SHOW fsync' postgres), synchronous_commit $(sql 'SHOW synchronous_commit' postgres); $(nproc) cores; load at start $(load)"
for s in $SCENARIOS; do
    case $s in
        ingest1) ingest 1 ;;
        ingest3) ingest 3 ;;
        delivery1) delivery 1 ;;
        delivery3) delivery 3 ;;
        *) echo "unknown scenario $s" >&2; exit 2 ;;
    esac
done
