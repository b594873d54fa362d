-- Version 5: the transactional outbox.
--
-- A state change that a stage message must follow writes that message here in the same
-- transaction (infra/outbox.py). The service that made the change publishes it at once
-- and deletes the row shortly after; a row still here once INTAKE_OUTBOX_GRACE_SECONDS
-- old belongs to a process that died, or a broker that refused, between the commit and
-- the publish: every pipeline service's relay publishes it then, with confirms, and
-- deletes it. not_before: a retry's message, due in the stage's retry queue no earlier.
CREATE TABLE outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stage       text NOT NULL,
    body        jsonb NOT NULL,
    message_id  text NOT NULL,
    not_before  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX outbox_message ON outbox (message_id);
CREATE INDEX outbox_oldest ON outbox (created_at);
