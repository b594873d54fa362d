-- Version 6: what the last scan of a server passed over because no row can hold it (a name
-- with '/' or NUL, a path past the index's limit, a size past a bigint): a count and the
-- first entries, escaped, with the reason. NULL when the last scan skipped nothing.
ALTER TABLE servers ADD COLUMN last_scan_warnings jsonb;
