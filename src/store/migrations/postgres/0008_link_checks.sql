-- When the poller last read each linked Orange object itself (re-read mode and the Wholesale
-- per-object reads), so a cycle with a call budget reads the least recently checked first and
-- a restart continues where the last process stopped. `done` = the object reached a final
-- status and is not read again.
CREATE TABLE link_checks (
    ticket     TEXT COLLATE "C" PRIMARY KEY,
    checked_at BIGINT NOT NULL,
    done       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX link_checks_order ON link_checks (done, checked_at);
