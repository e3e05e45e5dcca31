-- What the ticket timeline needs that the store did not keep (see src/ops/timeline.rs).
--
-- `events.routing`: the mapping's decision (routes taken, or why the event was skipped), as
-- JSON; NULL for events stored before this migration. A column of the row the ingest writes
-- anyway: no index, no extra write.
ALTER TABLE events ADD COLUMN routing TEXT;
-- The ITSM number or key the event carried (ServiceNow `number`, Jira issue key).
ALTER TABLE events ADD COLUMN ticket_number TEXT;

-- The ITSM's human number or key of a ticket, so a ticket can be named by it (a ticket's own
-- numbers are read from its events: no second index on `ticket`, so a new ticket costs one
-- index entry here, placed by its number, which ITSMs hand out in sequence). Written with `INSERT … ON CONFLICT DO NOTHING`: a page write
-- only the first time a (number, ticket) pair is seen, a read of a hot page after that. A Jira
-- issue moved to another project gets a second row, so both keys find it; two tickets with
-- the same number in a tenant (two sources) are both returned, as candidates.
CREATE TABLE ticket_aliases (
    tenant TEXT NOT NULL,
    alias  TEXT NOT NULL,
    ticket TEXT NOT NULL,
    PRIMARY KEY (tenant, alias, ticket)
) WITHOUT ROWID;

-- What the poller observed of a ticket's Orange object (status changes, notes seen, the first
-- read, resolution changes), derived in `commit_poll` from the remote state it replaces.
CREATE TABLE observations (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket TEXT NOT NULL,
    at     INTEGER NOT NULL,
    change TEXT NOT NULL                   -- JSON ObservedChange
);
CREATE INDEX observations_ticket ON observations (ticket, id);
