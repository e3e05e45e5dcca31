-- What the ticket timeline needs that the store did not keep (see src/ops/timeline.rs).
--
-- `events.routing`: the mapping's decision (routes taken, or why the event was skipped), as
-- JSON text (decoded like SQLite's); NULL for events stored before this migration.
ALTER TABLE events ADD COLUMN routing TEXT;
-- The ITSM number or key the event carried (ServiceNow `number`, Jira issue key).
ALTER TABLE events ADD COLUMN ticket_number TEXT;

-- The ITSM's human number or key of a ticket (ServiceNow `number`, Jira issue key), written
-- with `ON CONFLICT DO NOTHING`: a new row only the first time a (number, ticket) pair is seen.
CREATE TABLE ticket_aliases (
    tenant TEXT COLLATE "C" NOT NULL,
    alias  TEXT COLLATE "C" NOT NULL,
    ticket TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, alias, ticket)
);

-- What the poller observed of a ticket's Orange object, derived in `commit_poll` from the
-- remote state it replaces.
CREATE TABLE observations (
    id     BIGSERIAL PRIMARY KEY,
    ticket TEXT COLLATE "C" NOT NULL,
    at     BIGINT NOT NULL,
    change TEXT NOT NULL
);
CREATE INDEX observations_ticket ON observations (ticket, id);
