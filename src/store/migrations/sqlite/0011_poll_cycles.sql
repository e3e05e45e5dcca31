-- The last poll cycle of each tenant, one row per replica that ran (or skipped) it, so that
-- every replica's console and admin API see when a tenant was last polled and how it went.
-- Rows of a replica gone for a day are removed by the next write of the tenant's cycle.
CREATE TABLE poll_cycles (
    tenant       TEXT NOT NULL,
    replica      TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    ended_at     INTEGER NOT NULL,
    -- `ok`, `error` (with the error in `detail`) or `skipped` (another replica holds the lease)
    outcome      TEXT NOT NULL,
    detail       TEXT,
    orange_calls INTEGER NOT NULL,
    changes      INTEGER NOT NULL,
    writebacks   INTEGER NOT NULL,
    failed_reads INTEGER NOT NULL,
    -- How each Orange API was watched, as a JSON object (`{"incident": "incremental"}`).
    modes        TEXT NOT NULL,
    PRIMARY KEY (tenant, replica)
);
