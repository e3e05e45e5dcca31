-- The last poll cycle of each tenant, one row per replica that ran (or skipped) it, so that
-- every replica's console and admin API see when a tenant was last polled and how it went.
-- Rows of a replica gone for a day are removed by the next write of the tenant's cycle.
CREATE TABLE poll_cycles (
    tenant       TEXT COLLATE "C" NOT NULL,
    replica      TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    ended_at     BIGINT NOT NULL,
    -- `ok`, `error` (with the error in `detail`) or `skipped` (another replica holds the lease)
    outcome      TEXT NOT NULL,
    detail       TEXT,
    orange_calls BIGINT NOT NULL,
    changes      BIGINT NOT NULL,
    writebacks   BIGINT NOT NULL,
    failed_reads BIGINT NOT NULL,
    -- How each Orange API was watched, as a JSON object (`{"incident": "incremental"}`).
    modes        TEXT NOT NULL,
    PRIMARY KEY (tenant, replica)
);
