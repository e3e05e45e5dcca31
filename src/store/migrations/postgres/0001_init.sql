-- itsm-bridge store, PostgreSQL. Timestamps are unix milliseconds (BIGINT) like on SQLite,
-- so both backends share row decoding; JSON is JSONB. Keys compared or paged on use the "C"
-- collation so that they sort bytewise, as on SQLite.

CREATE TABLE events (
    id          TEXT COLLATE "C" PRIMARY KEY,
    tenant      TEXT NOT NULL,
    source      TEXT NOT NULL,
    dedupe_key  TEXT NOT NULL,
    ticket      TEXT COLLATE "C" NOT NULL,
    event_type  TEXT NOT NULL,
    body        BYTEA NOT NULL,
    headers     JSONB NOT NULL,
    received_at BIGINT NOT NULL,
    UNIQUE (tenant, source, dedupe_key)
);
CREATE INDEX events_tenant ON events (tenant, id);
CREATE INDEX events_ticket ON events (ticket, id);

-- One row per ticket: appends lock it, so seq follows commit order across replicas, and
-- head changes (finish, replay) are serialised with appends.
CREATE TABLE tickets (
    ticket   TEXT COLLATE "C" PRIMARY KEY,
    next_seq BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE deliveries (
    id              BIGSERIAL PRIMARY KEY,
    tenant          TEXT NOT NULL,
    event_id        TEXT COLLATE "C" REFERENCES events (id),
    ticket          TEXT COLLATE "C" NOT NULL,
    seq             BIGINT NOT NULL,
    target          JSONB NOT NULL,
    state           TEXT NOT NULL,
    is_head         BOOLEAN NOT NULL DEFAULT FALSE,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT,
    UNIQUE (ticket, seq)
);
CREATE INDEX deliveries_event ON deliveries (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id)
    WHERE is_head AND state = 'pending';
CREATE INDEX deliveries_expired ON deliveries (lease_until, id)
    WHERE is_head AND state = 'in_flight';
CREATE INDEX deliveries_active ON deliveries (ticket, seq)
    WHERE state IN ('pending', 'in_flight');
CREATE INDEX deliveries_in_flight ON deliveries (ticket) WHERE state = 'in_flight';
CREATE INDEX deliveries_heads ON deliveries (ticket) WHERE is_head;
CREATE INDEX deliveries_state ON deliveries (state, created_at);
CREATE INDEX deliveries_dead ON deliveries (finished_at DESC, id DESC) WHERE state = 'dead';

CREATE TABLE attempts (
    id          BIGSERIAL PRIMARY KEY,
    delivery_id BIGINT NOT NULL REFERENCES deliveries (id),
    at          BIGINT NOT NULL,
    outcome     TEXT NOT NULL,
    http_status BIGINT,
    error_code  TEXT,
    error       TEXT,
    latency_ms  BIGINT NOT NULL
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, id);

CREATE TABLE links (
    ticket     TEXT COLLATE "C" PRIMARY KEY,
    tenant     TEXT NOT NULL,
    source     TEXT NOT NULL,
    api        TEXT NOT NULL,
    orange_id  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant, api, orange_id)
);
CREATE INDEX links_tenant ON links (tenant, ticket);

CREATE TABLE remote_state (
    ticket TEXT PRIMARY KEY,
    state  JSONB NOT NULL
);

CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE watermarks (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE echoes (
    tenant      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant, fingerprint)
);
CREATE INDEX echoes_expiry ON echoes (expires_at);

CREATE TABLE replicas (
    name       TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
