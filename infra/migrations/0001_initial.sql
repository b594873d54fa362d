-- Intake schema, version 1: partner servers, one row per file version, and the journal.

CREATE TABLE servers (
    id                  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    host                text NOT NULL,
    port                integer NOT NULL DEFAULT 22 CHECK (port BETWEEN 1 AND 65535),
    username            text NOT NULL,
    password_enc        text,
    private_key_enc     text,
    remote_dir          text NOT NULL DEFAULT '.',
    pattern             text NOT NULL DEFAULT '*',
    recursive           boolean NOT NULL DEFAULT false,
    poll_interval_s     integer NOT NULL DEFAULT 30 CHECK (poll_interval_s >= 1),
    min_file_age_s      integer NOT NULL DEFAULT 10 CHECK (min_file_age_s >= 0),
    max_connections     integer NOT NULL DEFAULT 4 CHECK (max_connections >= 1),
    enabled             boolean NOT NULL DEFAULT true,
    host_key            text,
    trust_on_first_use  boolean NOT NULL DEFAULT false,
    next_scan_at        timestamptz NOT NULL DEFAULT now(),
    scan_lease_until    timestamptz,
    last_scan_at        timestamptz,
    last_scan_error     text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX servers_due ON servers (next_scan_at) WHERE enabled;

CREATE TABLE files (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    server_id       integer REFERENCES servers (id) ON DELETE RESTRICT,
    source          text NOT NULL DEFAULT 'sftp' CHECK (source IN ('sftp', 'upload')),
    remote_path     text NOT NULL,
    filename        text NOT NULL,
    size            bigint NOT NULL CHECK (size >= 0),
    remote_mtime    bigint NOT NULL,
    status          text NOT NULL DEFAULT 'discovered' CHECK (status IN (
                        'discovered', 'downloading', 'downloaded', 'storing', 'stored',
                        'notified', 'failed', 'missing')),
    sha256          text,
    md5             text,
    bucket          text,
    object_key      text,
    etag            text,
    attempts        integer NOT NULL DEFAULT 0,
    lease_until     timestamptz,
    error_message   text,
    stored_at       timestamptz,
    notified_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- One row per file version: re-scanning never duplicates, a replaced file is a new row.
    CONSTRAINT files_version UNIQUE (server_id, remote_path, size, remote_mtime)
);

CREATE INDEX files_newest ON files (created_at DESC, id DESC);
CREATE INDEX files_status_newest ON files (status, created_at DESC, id DESC);
CREATE INDEX files_server_newest ON files (server_id, created_at DESC, id DESC);
CREATE INDEX files_unfinished ON files (status, lease_until)
    WHERE status NOT IN ('notified', 'failed', 'missing');

CREATE TABLE file_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_id     uuid NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    event       text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX file_events_file ON file_events (file_id, id);
CREATE INDEX file_events_recent ON file_events (at DESC);

-- Files seen on a server that are not yet stable: (size, mtime) must stay unchanged
-- between our own polls for the server's minimum age before a files row is created.
CREATE TABLE sightings (
    server_id       integer NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    remote_path     text NOT NULL,
    size            bigint NOT NULL,
    remote_mtime    bigint NOT NULL,
    first_seen_at   timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    PRIMARY KEY (server_id, remote_path)
);
