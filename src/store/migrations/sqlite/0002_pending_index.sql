-- The queue gauges (pending, in flight, dead, oldest pending) read partial indexes that hold
-- only live rows. `deliveries_state` indexed every delivery by state, so each delivery moved
-- twice in it (pending → in_flight → done) and every done delivery stayed in it forever: three
-- index writes per delivery for a gauge. Now: one entry while pending, none once done.
DROP INDEX deliveries_state;
CREATE INDEX deliveries_pending ON deliveries (created_at) WHERE state = 'pending';
