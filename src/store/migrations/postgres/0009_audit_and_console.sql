-- The audit log: every operator action (replay, discard, link, reload, sign-in) with who (the
-- token's name), when, on what and how it ended. Never purged by retention: it is small and
-- it is the record of who did what.
CREATE TABLE audit_log (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    tenant  TEXT COLLATE "C",
    target  TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail  TEXT NOT NULL
);
-- A tenant-scoped token reads its tenants' entries, newest first.
CREATE INDEX audit_log_tenant ON audit_log (tenant, id);

-- The console's overview counts a tenant's attempts per minute of the last hour.
CREATE INDEX attempts_at ON attempts (at);
