-- Admin console, version 2: indexes for what the admin asks of the files table.
--
-- * ?q= (part of a file name, any case): trigram index, so a rare name is found without
--   reading every row. pg_trgm is a trusted extension (PostgreSQL 13+): the database owner
--   may create it.
-- * the dashboard's oldest unfinished file: a small partial index of unfinished files only,
--   instead of walking the newest-first index past every finished one.
-- * the dashboard's counts per server and status: an index-only scan of a narrow index.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX files_filename_trgm ON files USING gin (filename gin_trgm_ops);
CREATE INDEX files_unfinished_oldest ON files (created_at)
    WHERE status NOT IN ('notified', 'failed', 'missing');
CREATE INDEX files_server_status ON files (server_id, status);
