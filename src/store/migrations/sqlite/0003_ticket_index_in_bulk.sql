-- Events by ticket, written in bulk (see src/store/sqlite/tickets.rs).
--
-- `events_ticket` took one index entry per event at a random place (events of many tickets
-- interleave), so every accepted webhook rewrote a whole 4 KiB page of it in the log, the
-- checkpoint and the fsync: a seventh of the gateway's CPU at full ingest. Now an insert into
-- `events` appends (ticket, id) to `event_tickets_pending`, an unindexed table written in
-- order, and the writer moves those rows into `event_tickets` in one sorted insert now and
-- then, when many of them land on the same pages. Readers look in both.
CREATE TABLE event_tickets (
    ticket   TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (ticket, event_id)
) WITHOUT ROWID;

CREATE TABLE event_tickets_pending (
    ticket   TEXT NOT NULL,
    event_id TEXT NOT NULL
);

INSERT INTO event_tickets (ticket, event_id) SELECT ticket, id FROM events ORDER BY ticket, id;
DROP INDEX events_ticket;

CREATE TRIGGER events_ticket_pending AFTER INSERT ON events
BEGIN
    INSERT INTO event_tickets_pending (ticket, event_id) VALUES (new.ticket, new.id);
END;
