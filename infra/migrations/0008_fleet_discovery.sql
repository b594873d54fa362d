-- Version 8: discovery of a fleet. Each scan's listing is bounded per server (entries read,
-- directory levels below remote_dir), and a failing server is backed off: scan_failures
-- counts its consecutive failed scans (0 after a success), last_scan_ok_at is the end of
-- its last successful one (NULL: none yet), next_scan_at is pushed out on each failure.
ALTER TABLE servers
    ADD COLUMN max_listing_entries integer NOT NULL DEFAULT 1000000
        CHECK (max_listing_entries >= 1),
    ADD COLUMN max_depth integer NOT NULL DEFAULT 16 CHECK (max_depth >= 0),
    ADD COLUMN scan_failures integer NOT NULL DEFAULT 0 CHECK (scan_failures >= 0),
    ADD COLUMN last_scan_ok_at timestamptz;
