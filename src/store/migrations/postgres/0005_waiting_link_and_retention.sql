-- Deliveries waiting for their ticket's link, and the retention purge.
--
-- A delivery waiting for a link stays `pending` (so it keeps its place at the head of its
-- ticket's queue, and every "is the ticket busy" test stays as it is) with the reason in
-- `waiting_link` and its deadline in `next_attempt_at`.
ALTER TABLE deliveries ADD COLUMN waiting_link TEXT;
CREATE INDEX deliveries_waiting_link ON deliveries (ticket) WHERE waiting_link IS NOT NULL;
-- The purge walks write-backs (deliveries planned by the poller, without an event) by id.
CREATE INDEX deliveries_writebacks ON deliveries (id) WHERE event_id IS NULL;
