-- What the mapping made of an event, kept with it (issue 18): skipped, unrouted or parked.
--
-- `parked` is the reason (`schema-violation`, `mapping-rejected`, `orange-schema-violation`,
-- `unrouted`) of an event the tenant's mapping could not handle; NULL once it is not (or never
-- was) parked. A parked event is kept until a replay with a fixed mapping plans its calls:
-- retention must never purge a row whose `parked` is set. The failing rule and JSON pointer
-- and the message are kept beside it.
--
-- Only parked events are indexed (a partial index, empty on the hot path): every other event
-- writes nothing more than the columns of its own row. Unrouted events (`unrouted = 1`) are
-- not indexed, because an unrouted event is the common case on a busy source (every update
-- that changes nothing mapped) and the ingest benchmark's payload; listing them walks the
-- events of a tenant newest first.
ALTER TABLE events ADD COLUMN skipped TEXT;
ALTER TABLE events ADD COLUMN unrouted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN parked TEXT;
ALTER TABLE events ADD COLUMN parked_detail TEXT;
ALTER TABLE events ADD COLUMN parked_rule TEXT;
ALTER TABLE events ADD COLUMN parked_pointer TEXT;
CREATE INDEX events_parked ON events (id) WHERE parked IS NOT NULL;
