-- A parked event an operator discarded (issue 19): `parked` goes back to NULL (so it is no
-- longer listed, counted or replayed as parked) and its reason moves to `discarded`, with
-- the instant in `discarded_at`. The detail, rule and pointer stay in their columns. Retention
-- purges it like a discarded dead letter: once `discarded_at` is past `retention.done`. The
-- partial index holds only discarded events (empty on the hot path): the purger and the
-- `state=discarded` filter read them through it.
ALTER TABLE events ADD COLUMN discarded TEXT;
ALTER TABLE events ADD COLUMN discarded_at BIGINT;
CREATE INDEX events_discarded ON events (id) WHERE discarded_at IS NOT NULL;

-- Console sessions, shared by every replica on this database. A row is keyed by the SHA-256
-- (hex) of the session id in the browser's cookie: neither that id nor any admin token is
-- stored. `tenants` is a JSON array of tenant ids, NULL for every tenant. Times are unix
-- milliseconds; a session ends at `expires_at` (the earlier of idle and absolute expiry,
-- moved on by each request) and expired rows are deleted.
CREATE TABLE console_sessions (
    id_hash    TEXT PRIMARY KEY,
    principal  TEXT NOT NULL,
    role       TEXT NOT NULL,
    tenants    TEXT,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
