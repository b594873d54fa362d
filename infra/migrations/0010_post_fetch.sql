-- Version 10: what happens to a file on the partner once its copy is stored (issue 18.3,
-- docs/operations.md "After a file is stored"): kept (the default), deleted, or moved into
-- an archive directory. These defaults are the one place they are written.
--
-- archive_dir: where 'move' puts files; relative to remote_dir, or absolute; %Y %m %d %H
-- are the file's storing date in UTC (infra/archive_paths.py checks the syntax). A relative
-- one lies inside remote_dir, so a recursive scan would find the moved files again: refused.
ALTER TABLE servers
    ADD COLUMN post_fetch text NOT NULL DEFAULT 'keep'
        CHECK (post_fetch IN ('keep', 'delete', 'move')),
    ADD COLUMN archive_dir text CHECK (archive_dir <> ''),
    ADD CONSTRAINT servers_archive_dir_needed
        CHECK (post_fetch <> 'move' OR archive_dir IS NOT NULL),
    ADD CONSTRAINT servers_archive_dir_scanned
        CHECK (post_fetch <> 'move' OR NOT recursive OR archive_dir LIKE '/%');

-- A file's own action, on its row rather than in a message that could be lost. Discovery
-- writes remote_action from its server's post_fetch when it records the file (NULL: keep),
-- so changing a server's setting never reaches files recorded before. The action is done
-- once the file is stored or notified, by discovery on its scan's session:
--   pending  due at remote_action_due_at (a failed try is due again later, with backoff)
--   done     deleted or moved (file_events: remote_deleted, remote_moved)
--   changed  size or mtime differ from the row's on the partner: left alone (remote_changed)
--   failed   gave up after INTAKE_REMOTE_ACTION_MAX_ATTEMPTS tries (remote_action_failed)
ALTER TABLE files
    ADD COLUMN remote_action text CHECK (remote_action IN ('delete', 'move')),
    ADD COLUMN remote_action_state text
        CHECK (remote_action_state IN ('pending', 'done', 'changed', 'failed')),
    ADD COLUMN remote_action_due_at timestamptz,
    ADD COLUMN remote_action_attempts integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT files_remote_action_state
        CHECK ((remote_action IS NULL) = (remote_action_state IS NULL));

-- A server's due actions, for its scan: only the few files still pending once stored.
CREATE INDEX files_remote_action_due ON files (server_id, remote_action_due_at)
    WHERE remote_action_state = 'pending' AND status IN ('stored', 'notified');
