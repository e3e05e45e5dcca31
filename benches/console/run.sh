#!/usr/bin/env bash
# The console's pages with 1,000,000 events in a SQLite store: overview, search and timeline,
# p50/p99 over N requests each (one keep-alive connection, one request at a time).
#
#   benches/console/run.sh [REQUESTS] [BINARY]
#
# REQUESTS defaults to 300; BINARY to target/release/itsm-bridge when it exists, else
# target/debug/itsm-bridge (build one first). The store is filled in bulk with sqlite3 from a
# template event the gateway itself accepted: 100,000 Jira tickets of one tenant, 10 events
# each over 30 days (the last hour holds ~1,400 of them), each with one delivered Orange call
# and its attempt. Everything runs on 127.0.0.1 in a temporary folder, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
requests="${1:-300}"
events="${EVENTS:-1000000}"
bin="${2:-}"
if [[ -z "$bin" ]]; then
  bin=target/release/itsm-bridge
  [[ -x "$bin" ]] || bin=target/debug/itsm-bridge
fi
[[ -x "$bin" ]] || { echo "no binary at $bin: cargo build first" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "needs sqlite3 (apt-get install sqlite3)" >&2; exit 1; }
work="$(mktemp -d)"
pid=""
# KEEP=1 keeps the folder (and its store) to look at query plans.
trap '[[ -n "$pid" ]] && kill "$pid" 2>/dev/null; [[ -n "${KEEP:-}" ]] && echo "kept $work" || rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
token=bench-admin-token-0001
cat > "$work/config.yaml" <<YAML
listen: 127.0.0.1:$port
store: { url: "sqlite://$work/store.db" }
mappings_dir: $PWD/mappings
reload_interval_secs: 0
admin: { token: $token }
log: { level: warn }
delivery: { enabled: false }
poller: { enabled: false }
tenants:
  - id: acme
    orange: { client_id: c, client_secret: s, api_key: k }
    sources:
      jira:
        auth: [{ type: hub_signature, secret: bench-jira-secret }]
        mapping: demo/jira-incident.yaml
YAML

serve() {
  "$bin" serve --config "$work/config.yaml" >"$work/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "the gateway did not start:" >&2; cat "$work/serve.log" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

# 1. The template: one webhook the gateway accepts (event, delivery, ticket index).
serve
python3 - "$port" <<'PY'
import hashlib, hmac, sys, urllib.request
body = open("mappings/demo/events/jira/cloud-issue-created.json", "rb").read()
sig = "sha256=" + hmac.new(b"bench-jira-secret", body, hashlib.sha256).hexdigest()
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/webhooks/acme/jira", body,
    {"content-type": "application/json", "x-hub-signature": sig})
assert urllib.request.urlopen(req).status == 202
PY
stop

# 2. A million events in bulk, copied from the template.
start=$(date +%s)
now_ms=$(($(date +%s) * 1000))
sqlite3 "$work/store.db" <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
BEGIN;
CREATE TEMP TABLE n AS WITH RECURSIVE r(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM r WHERE i < $events - 1) SELECT i FROM r;
CREATE TEMP TABLE t AS SELECT * FROM events LIMIT 1;
CREATE TEMP TABLE d AS SELECT target FROM delivery_calls LIMIT 1;
DELETE FROM attempts; DELETE FROM delivery_calls; DELETE FROM deliveries; DELETE FROM event_tickets;
DELETE FROM event_tickets_pending; DELETE FROM ticket_aliases; DELETE FROM events;
DROP TRIGGER IF EXISTS events_ticket_pending;
INSERT INTO events (id, tenant, source, dedupe_key, ticket, event_type, body, headers,
    received_at, skipped, unrouted, parked, parked_detail, parked_rule, parked_pointer,
    routing, ticket_number)
  SELECT printf('%08x-%04x-7%03x-8%03x-%012x', ms >> 16, ms & 65535, i & 4095, (i >> 12) & 4095, i),
         t.tenant, t.source, 'bench-' || i, 'acme/jira/' || (20000 + i % 100000), t.event_type,
         t.body, t.headers, ms, t.skipped, t.unrouted, NULL, NULL, NULL, NULL, t.routing,
         'OPS-' || (i % 100000)
  FROM (SELECT i, $now_ms - ($events - 1 - i) * 2592 AS ms FROM n), t;
INSERT INTO event_tickets (ticket, event_id) SELECT ticket, id FROM events ORDER BY ticket, id;
INSERT INTO ticket_aliases (tenant, alias, ticket)
  SELECT 'acme', 'OPS-' || i, 'acme/jira/' || (20000 + i) FROM n WHERE i < 100000;
INSERT INTO deliveries (tenant, event_id, ticket, seq, state, is_head, attempts,
    next_attempt_at, created_at, finished_at)
  SELECT e.tenant, e.id, e.ticket, CAST(substr(e.dedupe_key, 7) AS INTEGER) / 100000,
         'done', 0, 1, e.received_at, e.received_at, e.received_at + 300
  FROM events e ORDER BY e.id;
INSERT INTO delivery_calls (delivery_id, target) SELECT id, d.target FROM deliveries, d ORDER BY id;
INSERT INTO attempts (delivery_id, at, outcome, http_status, latency_ms)
  SELECT id, created_at + 300, 'success', 201, 120 FROM deliveries ORDER BY id;
CREATE TRIGGER events_ticket_pending AFTER INSERT ON events
BEGIN
    INSERT INTO event_tickets_pending (ticket, event_id) VALUES (new.ticket, new.id);
END;
COMMIT;
ANALYZE;
SQL
echo "loaded $(sqlite3 "$work/store.db" 'SELECT COUNT(*) FROM events') events in $(($(date +%s) - start)) s ($(du -h "$work/store.db" | cut -f1))"

# 3. The pages, timed through a signed-in session.
serve
python3 - "$port" "$token" "$requests" <<'PY'
import http.client, sys, time, urllib.parse
port, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", int(port))
c.request("POST", "/console/sign-in", urllib.parse.urlencode({"token": token}),
          {"content-type": "application/x-www-form-urlencoded"})
r = c.getresponse(); r.read()
assert r.status == 303, r.status
cookie = r.getheader("set-cookie").split(";")[0]
pages = [
    ("overview", "/console", 200),
    ("search (number → one ticket)", "/console/search?q=OPS-4242", 303),
    ("timeline (10 events, calls, attempts)", "/console/ticket?tenant=acme&name=OPS-4242", 200),
]
print(f"{'page':40} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  (n={n})")
for name, path, want in pages:
    times = []
    for k in range(n + 10):
        t0 = time.perf_counter()
        c.request("GET", path, headers={"cookie": cookie})
        r = c.getresponse(); body = r.read()
        dt = (time.perf_counter() - t0) * 1000
        assert r.status == want, (path, r.status, body[:300])
        if k >= 10:  # the first requests warm the caches
            times.append(dt)
    times.sort()
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    print(f"{name:40} {p(0.5):8.1f} {p(0.99):8.1f} {times[-1]:8.1f}")
PY
stop
