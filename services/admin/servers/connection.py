"""What the API and the pages both do with a server beyond its row: test its settings."""

import asyncio

from infra.crypto import SecretBox, SecretBoxError
from infra.postgres import Pool
from infra.servers import fetch_server, target_from_row
from services.admin.servers.probing import Probe, probe


async def test_server(pool: Pool, box: SecretBox, server_id: int) -> Probe | None:
    """Probe the server with its stored settings; None when there is no such server."""
    row = await fetch_server(pool, server_id)
    if row is None:
        return None
    try:
        target = target_from_row(row, box)
    except SecretBoxError:
        return Probe(False, None, bool(row["host_key"]), error=(
            "the stored password or key cannot be decrypted with this INTAKE_SECRET_KEY; "
            "enter the credentials again"))
    # In the default executor: bounded, and each probe gives up after its timeouts.
    return await asyncio.to_thread(
        probe, target, remote_dir=row["remote_dir"], pattern=row["pattern"],
        recursive=row["recursive"],
    )
