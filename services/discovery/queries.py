"""SQL of the discovery service."""

import json
from collections.abc import Iterable

from infra.file_states import Status, sql_list
from infra.spool.registry import LIVE_SPOOLS


def listing_param(entries: Iterable[tuple[str, int, int]]) -> str:
    """A listing batch as ``OBSERVE_BATCH``'s ``entries``: ``[[path, size, mtime], ...]``.

    One JSON text that PostgreSQL parses in C. As three arrays, psycopg adapts each of the
    15,000 values of a 5,000-entry batch in Python: 11 ms of CPU per batch with the GIL
    held, stalling the listing thread beside it, against 2 ms for this.
    """
    return json.dumps(list(entries))

# One due server per call (each of a replica's scan workers calls it); SKIP LOCKED plus the
# lease keep the workers and replicas off each other's scans.
CLAIM_DUE_SERVER = """
UPDATE servers
   SET scan_lease_until = now() + make_interval(secs => %(lease)s),
       next_scan_at = now() + make_interval(secs => poll_interval_s)
 WHERE id = (
        SELECT id FROM servers
         WHERE enabled AND next_scan_at <= now()
           AND (scan_lease_until IS NULL OR scan_lease_until < now())
         ORDER BY next_scan_at
         LIMIT 1
           FOR UPDATE SKIP LOCKED)
RETURNING *, now() AS scan_started
"""

# Renewed while the scan runs (Scanner._keep_claimed), so only a scan whose replica died
# loses its server.
RENEW_SCAN_LEASE = """
UPDATE servers SET scan_lease_until = now() + make_interval(secs => %(lease)s)
 WHERE id = %(id)s
"""

SCAN_SUCCEEDED = """
UPDATE servers
   SET last_scan_at = now(), last_scan_ok_at = now(), last_scan_error = NULL,
       scan_lease_until = NULL, last_scan_warnings = %(warnings)s, scan_failures = 0
 WHERE id = %(id)s
"""

# No session slot came free: the server is scanned at its next poll, nothing recorded.
SCAN_POSTPONED = "UPDATE servers SET scan_lease_until = NULL WHERE id = %(id)s"

# A failure pushes the next attempt out by the backoff (services/discovery/backoff.py)
# instead of the poll interval the claim set.
SCAN_FAILED = """
UPDATE servers
   SET last_scan_at = now(), last_scan_error = %(error)s, scan_lease_until = NULL,
       scan_failures = scan_failures + 1,
       next_scan_at = now() + make_interval(secs => %(wait)s)
 WHERE id = %(id)s
"""

# Entries of one listing batch that are not yet a files row are recorded as sightings;
# a sighting whose (size, mtime) changed starts its stability clock again. Returns the
# entries that have been unchanged for the server's minimum age, except the versions
# already delivered whose files rows retention summarized away (a ``delivered`` sighting,
# infra/file_states/summaries.py): a changed version is a new file again.
# The LATERAL ... LIMIT 1 probe keeps the cost per batch at one index lookup per entry: as
# NOT EXISTS, the planner prefers a hash anti-join that reads every file of the server for
# every batch (33 ms instead of 5 per batch at 100k files, growing with the directory).
# The batch travels as one JSON text (see ``listing_param``).
OBSERVE_BATCH = """
WITH batch AS (
    SELECT e->>0 AS remote_path, (e->>1)::bigint AS size, (e->>2)::bigint AS remote_mtime
      FROM json_array_elements(%(entries)s::json) AS e
), fresh AS (
    SELECT b.* FROM batch b
      LEFT JOIN LATERAL (
        SELECT true AS known FROM files f
         WHERE f.server_id = %(server_id)s AND f.remote_path = b.remote_path
           AND f.size = b.size AND f.remote_mtime = b.remote_mtime
         LIMIT 1) k ON true
     WHERE k.known IS NULL
), seen AS (
    INSERT INTO sightings AS s (server_id, remote_path, size, remote_mtime,
                                first_seen_at, last_seen_at)
    SELECT %(server_id)s, remote_path, size, remote_mtime, now(), now() FROM fresh
    ON CONFLICT (server_id, remote_path) DO UPDATE
       SET first_seen_at = CASE
               WHEN s.size = EXCLUDED.size AND s.remote_mtime = EXCLUDED.remote_mtime
               THEN s.first_seen_at ELSE EXCLUDED.first_seen_at END,
           delivered = s.delivered AND s.size = EXCLUDED.size
                       AND s.remote_mtime = EXCLUDED.remote_mtime,
           size = EXCLUDED.size,
           remote_mtime = EXCLUDED.remote_mtime,
           last_seen_at = EXCLUDED.last_seen_at
    RETURNING remote_path, size, remote_mtime, first_seen_at, delivered
)
SELECT remote_path, size, remote_mtime FROM seen
 WHERE NOT delivered AND first_seen_at <= now() - make_interval(secs => %(min_age)s)
 ORDER BY remote_path
 LIMIT %(limit)s
"""

# After a complete listing, sightings not refreshed by it belong to files that vanished
# before they became stable.
FORGET_VANISHED = """
DELETE FROM sightings WHERE server_id = %(server_id)s AND last_seen_at < %(scan_started)s
"""

# Files whose lease ran out (their worker died) or whose next message seems lost.
# Touching updated_at keeps the other replicas from re-driving the same files at once.
# A copy in a spool that stopped showing life is not re-driven but lost (file_states.losses).
# The statuses are written into the text (see sql_list), so files_unfinished serves it.
CLAIM_STALLED = f"""
UPDATE files SET updated_at = now()
 WHERE id IN (
        SELECT id FROM files
         WHERE ((status IN ({sql_list([Status.DOWNLOADING, Status.STORING])})
                 AND lease_until < now())
             OR (status = '{Status.STORED}' AND lease_until < now())
             OR (status IN ({sql_list([Status.DISCOVERED, Status.DOWNLOADED, Status.STORED])})
                 AND lease_until IS NULL
                 AND updated_at < now() - make_interval(secs => %(stale)s)))
           AND (status NOT IN ({sql_list([Status.DOWNLOADED, Status.STORING])})
                OR spool_id IN ({LIVE_SPOOLS}))
         ORDER BY updated_at
         LIMIT %(limit)s
           FOR UPDATE SKIP LOCKED)
RETURNING *
"""  # noqa: S608 (constants of the Status enum)
