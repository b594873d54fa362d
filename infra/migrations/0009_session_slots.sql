-- Version 9: the per-partner session cap across every replica and host
-- (infra/sftp/slots.py). A process holds one slot of a server for each SFTP session it
-- keeps open to it, in use or idle; it renews its leases while it lives and deletes a
-- slot when it closes the session. A crashed holder's slots come back when their lease
-- runs out. At most servers.max_connections slots of a server are live at once.
CREATE TABLE session_slots (
    server_id    integer NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    slot         integer NOT NULL CHECK (slot >= 1),
    holder       text NOT NULL,           -- the process: host, pid and a random tag
    lease_until  timestamptz NOT NULL,
    claimed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, slot)
);
CREATE INDEX session_slots_holder ON session_slots (holder);

-- Who waits for a slot of a server, oldest first: a free slot goes to the oldest live
-- waiter, and a holder gives its idle sessions back when another process waits. A waiter that
-- stopped asking (gave up, crashed) no longer counts once seen_at is old.
CREATE TABLE session_slot_waiters (
    server_id    integer NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    waiter       text NOT NULL,           -- one wait
    holder       text NOT NULL,           -- the process that waits
    since        timestamptz NOT NULL DEFAULT now(),
    seen_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, waiter)
);
