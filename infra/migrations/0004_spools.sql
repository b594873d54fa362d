-- Version 4: every spool belongs to one host, and a file row says which spool holds its copy.
--
-- A spool is a downloader+uploader pair's directory on one host (or one pod's emptyDir).
-- Its uploader refreshes seen_at while it runs; a spool not seen for
-- INTAKE_SPOOL_LOST_AFTER_SECONDS is lost, and so are the copies in it (the reconciler
-- sends their files back to be downloaded by any host, journaled as spool_lost).
CREATE TABLE spools (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    hostname    text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    seen_at     timestamptz NOT NULL DEFAULT now()
);

-- spool_id: the spool the file's download was written to (set by the download's claim).
-- spool_losses: copies of this file lost in a row; reset once it is stored. A file that
-- loses INTAKE_MAX_SPOOL_LOSSES copies is failed instead of downloaded once more.
ALTER TABLE files
    ADD COLUMN spool_id text,
    ADD COLUMN spool_losses integer NOT NULL DEFAULT 0;
