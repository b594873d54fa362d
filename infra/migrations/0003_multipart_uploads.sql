-- Version 3: multipart uploads that outlive one attempt.
--
-- A large file's parts are sent while it downloads (by a streamer, which holds
-- streaming_until as its lease, renewed and ended under its own token, streamer) and a crashed upload resumes from the parts already
-- stored. One row per file while its upload is open (upload_id is NULL for the moment
-- between a streamer's claim and the upload's creation); the row goes when the upload is
-- completed or aborted. spool_inode ties the parts to the spool file they were read from:
-- a spool file that was deleted and written anew starts a new upload.
CREATE TABLE multipart_uploads (
    file_id          uuid PRIMARY KEY REFERENCES files (id) ON DELETE CASCADE,
    object_key       text NOT NULL,
    upload_id        text,
    part_size        bigint NOT NULL CHECK (part_size > 0),
    spool_inode      bigint,
    streaming_until  timestamptz,
    streamer         uuid,
    created_at       timestamptz NOT NULL DEFAULT now()
);
