-- itsm-bridge store, SQLite. Timestamps are unix milliseconds (INTEGER), JSON is TEXT.

CREATE TABLE events (
    id          TEXT PRIMARY KEY,          -- UUIDv7, sorts by acceptance time
    tenant      TEXT NOT NULL,
    source      TEXT NOT NULL,
    dedupe_key  TEXT NOT NULL,
    ticket      TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    body        BLOB NOT NULL,             -- byte-exact raw webhook body
    headers     TEXT NOT NULL,             -- JSON array of [name, value]
    received_at INTEGER NOT NULL,
    UNIQUE (tenant, source, dedupe_key)
);
CREATE INDEX events_tenant ON events (tenant, id);
CREATE INDEX events_ticket ON events (ticket, id);

CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant          TEXT NOT NULL,
    event_id        TEXT REFERENCES events (id),
    ticket          TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    target          TEXT NOT NULL,
    state           TEXT NOT NULL,
    -- 1 on the lowest-seq pending/in-flight delivery of its ticket: the only one claimable.
    is_head         INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    UNIQUE (ticket, seq)
);
CREATE INDEX deliveries_event ON deliveries (event_id) WHERE event_id IS NOT NULL;
-- The claim scans heads only, so a long queue behind one ticket costs nothing.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id)
    WHERE is_head = 1 AND state = 'pending';
CREATE INDEX deliveries_expired ON deliveries (lease_until, id)
    WHERE is_head = 1 AND state = 'in_flight';
CREATE INDEX deliveries_active ON deliveries (ticket, seq)
    WHERE state IN ('pending', 'in_flight');
CREATE INDEX deliveries_in_flight ON deliveries (ticket) WHERE state = 'in_flight';
CREATE INDEX deliveries_heads ON deliveries (ticket) WHERE is_head = 1;
CREATE INDEX deliveries_state ON deliveries (state, created_at);
CREATE INDEX deliveries_dead ON deliveries (finished_at DESC, id DESC) WHERE state = 'dead';

CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
    at          INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    http_status INTEGER,
    error_code  TEXT,
    error       TEXT,
    latency_ms  INTEGER NOT NULL
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, id);

CREATE TABLE links (
    ticket     TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    source     TEXT NOT NULL,
    api        TEXT NOT NULL,
    orange_id  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant, api, orange_id)
);
CREATE INDEX links_tenant ON links (tenant, ticket);

CREATE TABLE remote_state (
    ticket     TEXT PRIMARY KEY,
    state      TEXT NOT NULL              -- JSON RemoteState
);

CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE watermarks (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE echoes (
    tenant      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, fingerprint)
);
CREATE INDEX echoes_expiry ON echoes (expires_at);

CREATE TABLE replicas (
    name       TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
