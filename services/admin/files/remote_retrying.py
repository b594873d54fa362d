"""An operator's retry of a post-fetch action given up (the archive's permissions fixed,
say): the file's action is due again at discovery's next scan of its server."""

from uuid import UUID

from infra.file_states import remote_actions
from infra.postgres import Pool
from services.admin.files import queries
from services.admin.rows import Row


class ActionNotGivenUp(Exception):
    def __init__(self, state: str | None) -> None:
        super().__init__(
            "this file's server keeps it: there is no action to retry" if state is None
            else f"its action on the server is {state}, not given up: only an action that"
                 " was given up can be retried")


async def retry_remote_action(pool: Pool, file_id: UUID, *, by: str) -> Row | None:
    """The file, with its journal, once its action is due again; None: no such file."""
    retried = await remote_actions.retry(pool, file_id, by=by)
    row = await queries.get_file_with_events(pool, file_id)
    if row is not None and not retried:
        raise ActionNotGivenUp(row["remote_action_state"])
    return row
