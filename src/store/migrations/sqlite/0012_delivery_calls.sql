-- A delivery's planned call in its own table (issue 23).
--
-- `target` (the Orange or ITSM call, ~1–2 KB of JSON: it carries the ticket's description)
-- was a column of `deliveries`, and SQLite rewrites a whole record on any update: claiming a
-- delivery, recording its outcome and making the next one of its ticket the head each wrote
-- the call again, a page of the log and of the checkpoint each. The call is written once and
-- never changes (a replay with a fixed mapping replaces it); the delivery's state changes
-- several times. Now `deliveries` holds the state (a short record, many to a page) and
-- `delivery_calls` the call, keyed by the delivery's id and removed with it.
CREATE TABLE delivery_calls (
    delivery_id INTEGER PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
    target      TEXT NOT NULL
);
INSERT INTO delivery_calls (delivery_id, target) SELECT id, target FROM deliveries;
ALTER TABLE deliveries DROP COLUMN target;
