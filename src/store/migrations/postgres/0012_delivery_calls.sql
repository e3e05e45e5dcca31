-- A delivery's planned call in its own table (issue 23).
--
-- `target` (the Orange or ITSM call, ~1–2 KB of JSON: it carries the ticket's description)
-- was a column of `deliveries`; an update of a delivery's state (claimed, finished, made the
-- head of its ticket) writes a new version of the whole row, so the call was copied to the
-- heap and the WAL at each. The call is written once and never changes (a replay with a fixed
-- mapping replaces it). Now `deliveries` holds the state and `delivery_calls` the call, keyed
-- by the delivery's id and removed with it.
CREATE TABLE delivery_calls (
    delivery_id BIGINT PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
    target      JSONB NOT NULL
);
INSERT INTO delivery_calls (delivery_id, target) SELECT id, target FROM deliveries;
ALTER TABLE deliveries DROP COLUMN target;
