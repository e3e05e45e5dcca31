# Pieces the benchmark scripts share (sourced, not run): `source benches/lib.sh` from the
# repository root. Every wait is bounded; every figure comes from wrk, /proc or /metrics.

# wrk, from Debian when it is missing.
need_wrk() {
    command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
}

# The 1-minute load average (the machine is shared: every summary line says how busy it was).
load() { cut -d' ' -f1 /proc/loadavg; }

# wait_ready HOST:PORT [PATH]: until PATH (default /readyz) answers 2xx, at most 30 s.
wait_ready() {
    local i
    for i in $(seq 300); do
        curl -fs "http://$1${2:-/readyz}" >/dev/null && return 0
        sleep 0.1
    done
    echo "$1 not ready after 30 s" >&2
    return 1
}

# addrs PORT...: "127.0.0.1:P1,127.0.0.1:P2,…" (post.lua's BENCH_ADDRS).
addrs() { local a=() p; for p in "$@"; do a+=("127.0.0.1:$p"); done; (IFS=,; echo "${a[*]}"); }

# wrk_post THREADS CONNECTIONS SECONDS URL: wrk with benches/ingest/post.lua (its BENCH_* from
# the environment); prints "requests/s p99 non2xx requests" (p99 as wrk writes it, e.g. 4.2ms).
# WRK_LOG, when set, keeps wrk's whole output.
wrk_post() {
    local out
    out=$(wrk -t"$1" -c"$2" -d"$3s" --latency -s benches/ingest/post.lua "$4")
    [ -z "${WRK_LOG:-}" ] || echo "$out" >>"$WRK_LOG"
    echo "$out" | awk '/Requests\/sec/ {r = $2} / 99%/ {p = $2} /requests in/ {n = $1}
        /status_non_2xx/ {split($1, a, "="); e = a[2]} END {print r, p, e, n}'
}

# ms DURATION: wrk's latency ("850.00us", "4.20ms", "1.02s") in milliseconds.
ms() {
    echo "$1" | awk '{ v = $1 + 0; if ($1 ~ /us$/) v /= 1000; else if ($1 ~ /[0-9]s$/ && $1 !~ /ms$/) v *= 1000; printf "%.2f", v }'
}

# cpu_ticks PID...: user + system clock ticks used so far by these processes (all threads).
cpu_ticks() {
    local p t=0
    for p in "$@"; do
        # Fields after the command (which may hold spaces): utime is the 12th, stime the 13th.
        t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
    done
    echo "$t"
}

# rss_kib PID [FIELD]: VmRSS (or FIELD, e.g. VmHWM) of PID in KiB.
rss_kib() { awk -v f="${2:-VmRSS}:" '$1 == f {print $2}' "/proc/$1/status"; }

# metric_sum PATTERN HOST:PORT...: the sum over the replicas of every /metrics sample whose
# name and labels match the extended regex PATTERN.
metric_sum() {
    local pat=$1 h
    shift
    for h in "$@"; do curl -fs "http://$h/metrics"; done |
        awk -v pat="$pat" '$1 ~ pat {s += $2} END {printf "%d\n", s}'
}
