-- Version 7: processing jobs (services/processor): a CSV's column sums, computed from an
-- object in a bucket, a file under the processor's local root, or a stored file.
-- A job is queued, then running under a lease (a worker killed mid-job loses it and the
-- job is taken again), then succeeded with its result or failed with its error. Progress
-- is written while it runs, every few seconds, never per row.
CREATE TABLE jobs (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    source       jsonb NOT NULL,          -- {"source": "s3", "bucket", "key"} or {"source": "local", "path"}
    file_id      uuid REFERENCES files (id) ON DELETE SET NULL,  -- the stored file it reads, if any
    options      jsonb NOT NULL DEFAULT '{}',
    status       text NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    lease_until  timestamptz,
    bytes_total  bigint,
    bytes_done   bigint NOT NULL DEFAULT 0,
    rows_done    bigint NOT NULL DEFAULT 0,
    result       jsonb,
    error        text,
    logged_at    timestamptz,             -- its line is in the shared results log
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    rule         boolean NOT NULL DEFAULT false  -- made by its server's job_pattern, not asked for
);
CREATE INDEX jobs_newest ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_unfinished ON jobs (status, lease_until) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_unlogged ON jobs (finished_at) WHERE status = 'succeeded' AND logged_at IS NULL;

-- A server's rule: a job for each stored file whose name matches ``job_pattern`` (a glob of
-- ``*`` and ``?``, checked by the admin). The database translates it to the LIKE pattern
-- that the processor's reconciler matches with, so no writer can leave the two apart.
ALTER TABLE servers
    ADD COLUMN job_pattern text CHECK (job_pattern <> ''),
    ADD COLUMN job_pattern_like text GENERATED ALWAYS AS (
        replace(replace(replace(replace(replace(job_pattern,
            '\', '\\'), '%', '\%'), '_', '\_'), '*', '%'), '?', '_')) STORED;
-- At most one rule job per file, however many reconcilers race.
CREATE UNIQUE INDEX jobs_rule_file ON jobs (file_id) WHERE rule;
-- The reconciler's candidates: a ruled server's files stored in the last day.
CREATE INDEX files_stored_by_server ON files (server_id, stored_at)
    WHERE status IN ('stored', 'notified');
