-- Version 12: retention (infra/retention.py, infra/file_states/trimming.py, summaries.py).
--
-- journal_trimmed_at: when the file's old journal was last trimmed down to one
-- journal_trimmed event. A file that finished since (a retry) has updated_at past it, and
-- is due again once it has rested long enough. files_journal_due holds only the finished
-- files not trimmed since their last change: a pass reads the work it has to do, never
-- the files it trimmed before, however many they are.
ALTER TABLE files ADD COLUMN journal_trimmed_at timestamptz;

CREATE INDEX files_journal_due ON files (updated_at)
    WHERE status IN ('notified', 'failed', 'missing')
      AND (journal_trimmed_at IS NULL OR journal_trimmed_at < updated_at);

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
