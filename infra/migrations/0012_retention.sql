-- Version 12: retention (infra/retention.py, infra/file_states/trimming.py, summaries.py).
--
-- The journal pass walks the finished files in the order their rest began (updated_at:
-- every change of a file sets it) from where the last batch stopped, kept in
-- retention_marks. A file that was not finished when the walk passed it, or that was
-- retried and finished again later, has a newer updated_at and is met again further on:
-- nothing marks the files themselves, and a pass reads only the work it has to do.
CREATE INDEX files_finished_since ON files (updated_at, id)
    WHERE status IN ('notified', 'failed', 'missing');

CREATE TABLE retention_marks (
    name        text PRIMARY KEY,
    updated_at  timestamptz NOT NULL,  -- the (updated_at, id) of the last file passed
    file_id     uuid NOT NULL
);
INSERT INTO retention_marks VALUES ('journal', '-infinity', '00000000-0000-0000-0000-000000000000');

-- Notified files summarized away (INTAKE_RETENTION_NOTIFIED_DAYS): counted per server and
-- per day of their discovery, so the console's totals still include them. server_id is
-- NULL for the admin's uploads; NULLS NOT DISTINCT makes those one row per day too.
-- A server with totals is kept (disabled) when removed, like a server with files.
CREATE TABLE file_totals (
    server_id  integer REFERENCES servers (id) ON DELETE RESTRICT,
    day        date NOT NULL,
    files      bigint NOT NULL CHECK (files >= 0),
    bytes      numeric NOT NULL CHECK (bytes >= 0),
    CONSTRAINT file_totals_day UNIQUE NULLS NOT DISTINCT (server_id, day)
);

-- Removing a files row sets the file_id of the jobs that read it to NULL: without an index
-- each removal would read the whole jobs table to find them.
CREATE INDEX jobs_file ON jobs (file_id) WHERE file_id IS NOT NULL;

-- A notified file summarized away leaves no files row to tell discovery that its version
-- was delivered: it leaves a sighting marked delivered instead, which discovery's listing
-- keeps fresh while the partner still lists that version and never turns into a new file;
-- like every sighting, it goes once a complete listing no longer shows the path.
ALTER TABLE sightings ADD COLUMN delivered boolean NOT NULL DEFAULT false;
