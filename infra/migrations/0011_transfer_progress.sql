-- Version 11: live progress of the transfers in flight (infra/transfer_progress.py).
--
-- One row per file and stage ('download' into the spool, 'upload' to the bucket) while a
-- process moves its bytes, upserted every INTAKE_PROGRESS_SECONDS by that process, never
-- per chunk, and deleted when the transfer ends. A row is shown only until expires_at
-- (three intervals after its last sample): a process that died leaves a row nobody shows,
-- removed by the first sample of the next transfer, on any host.
--
-- UNLOGGED: the samples are rewritten every few seconds and worth nothing after a crash,
-- so they skip the WAL (no write amplification, nothing for replicas or backups to carry);
-- PostgreSQL empties the table after a crash, which only hides samples that were stale
-- anyway. No foreign key to files: a sample must not lock its file's row, and readers
-- join files, so the row of a file deleted meanwhile is never shown.
CREATE UNLOGGED TABLE transfer_progress (
    file_id          uuid NOT NULL,
    stage            text NOT NULL CHECK (stage IN ('download', 'upload')),
    bytes_done       bigint NOT NULL CHECK (bytes_done >= 0),
    bytes_total      bigint NOT NULL CHECK (bytes_total >= 0),
    bytes_per_second double precision CHECK (bytes_per_second >= 0),
    started_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    PRIMARY KEY (file_id, stage)
);
