"""``/api/servers``: the partner SFTP servers discovery polls."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_202_ACCEPTED,
    HTTP_204_NO_CONTENT,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
)

from services.admin.dependencies import OutboxDep, PoolDep, SecretBoxDep, SettingsDep
from services.admin.errors import found, responses
from services.admin.files import retrying
from services.admin.files.schemas import BulkRetryOut
from services.admin.servers import queries
from services.admin.servers.probing import test_server
from services.admin.servers.schemas import (
    ProbeOut,
    ServerCreate,
    ServerKept,
    ServerOut,
    ServerUpdate,
)

_NOT_FOUND = "No server has this id"
_UNPROCESSABLE = {HTTP_422_UNPROCESSABLE_ENTITY: "Neither a password nor a private key, or"
                                                  " settings that cannot go together"}


@contextmanager
def _refusals() -> Iterator[None]:
    """The queries' refusals of a server's settings as the API's 409 and 422 answers."""
    try:
        yield
    except queries.ServerNameTaken as exc:
        raise HTTPException(status_code=HTTP_409_CONFLICT, detail=str(exc)) from exc
    except queries.ServerWithoutCredentials as exc:
        raise HTTPException(
            status_code=HTTP_422_UNPROCESSABLE_ENTITY, detail=str(exc),
            extra=[{"key": key, "message": str(exc)} for key in ("password", "private_key")],
        ) from exc
    except queries.ServerSettingsClash as exc:
        raise HTTPException(status_code=HTTP_422_UNPROCESSABLE_ENTITY, detail=str(exc),
                            extra=[{"key": exc.field, "message": str(exc)}]) from exc


class ServerController(Controller):
    path = "/api/servers"
    tags = ["servers"]

    @get(responses=responses())
    async def list_servers(self, pool: PoolDep) -> list[ServerOut]:
        return [ServerOut.model_validate(row) for row in await queries.list_servers(pool)]

    @get("/{server_id:int}", responses=responses(not_found=_NOT_FOUND))
    async def get_server(self, server_id: FromPath[int], pool: PoolDep) -> ServerOut:
        row = found(await queries.get_server(pool, server_id), "server", server_id)
        return ServerOut.model_validate(row)

    @post(responses=responses(conflict="The name is taken", more=_UNPROCESSABLE))
    async def create_server(
        self, data: JSONBody[ServerCreate], pool: PoolDep, secret_box: SecretBoxDep
    ) -> ServerOut:
        """Add a server, with a password or a private key. A setting left out takes the
        ``servers`` table's column default, which the answer shows."""
        with _refusals():
            row = await queries.insert_server(pool, data.to_columns(secret_box))
        return ServerOut.model_validate(row)

    @patch(
        "/{server_id:int}",
        responses=responses(not_found=_NOT_FOUND, conflict="The new name is taken",
                            more=_UNPROCESSABLE),
    )
    async def update_server(
        self,
        server_id: FromPath[int],
        data: JSONBody[ServerUpdate],
        pool: PoolDep,
        secret_box: SecretBoxDep,
    ) -> ServerOut:
        with _refusals():
            row = await queries.update_server(pool, server_id, data.to_columns(secret_box))
        return ServerOut.model_validate(found(row, "server", server_id))

    @delete(
        "/{server_id:int}",
        status_code=HTTP_200_OK,
        description=(
            "Deletes a server without files (204). A server that files refer to is disabled "
            "instead, keeping their history (200 with the server and a note)."
        ),
        responses={
            HTTP_204_NO_CONTENT: ResponseSpec(None, description="Deleted"),
            **responses(not_found=_NOT_FOUND),
        },
    )
    async def delete_server(
        self, server_id: FromPath[int], pool: PoolDep
    ) -> Response[ServerKept | None]:
        removal = found(await queries.remove_server(pool, server_id), "server", server_id)
        if removal.deleted:
            return Response(content=None, status_code=HTTP_204_NO_CONTENT)
        kept = ServerKept(
            server=ServerOut.model_validate(removal.server),
            note=(
                f"{removal.file_count} file(s) refer to this server, so it was disabled "
                "instead of deleted to keep their history"
            ),
        )
        return Response(content=kept, status_code=HTTP_200_OK)

    @post(
        "/{server_id:int}/scan",
        status_code=HTTP_202_ACCEPTED,
        responses=responses(not_found=_NOT_FOUND, conflict="The server is disabled"),
    )
    async def scan_server(self, server_id: FromPath[int], pool: PoolDep) -> ServerOut:
        """Ask discovery to poll the server on its next pass instead of waiting its interval."""
        row = await queries.request_scan(pool, server_id)
        if row is not None:
            return ServerOut.model_validate(row)
        found(await queries.get_server(pool, server_id), "server", server_id)
        raise HTTPException(
            status_code=HTTP_409_CONFLICT,
            detail=f"server {server_id} is disabled; enable it before asking for a scan",
        )

    @post("/{server_id:int}/test", status_code=HTTP_200_OK,
          responses=responses(not_found=_NOT_FOUND))
    async def test_connection(
        self, server_id: FromPath[int], pool: PoolDep, secret_box: SecretBoxDep,
        settings: SettingsDep,
    ) -> ProbeOut:
        """Connect as discovery would (host key verified first), list up to 20 matching
        files, disconnect. ``ok`` false comes with the exact error; the key the server
        presents is reported so that it can be compared and pinned."""
        probe = found(await test_server(pool, secret_box, server_id), "server", server_id)
        return ProbeOut.from_probe(probe)

    @post("/{server_id:int}/retry-failed", status_code=HTTP_200_OK,
          responses=responses(not_found=_NOT_FOUND))
    async def retry_failed(
        self, server_id: FromPath[int], pool: PoolDep, outbox: OutboxDep,
        settings: SettingsDep, request: Request[Any, Any, Any],
    ) -> BulkRetryOut:
        """Retry every failed or missing file of this server from its last good state."""
        found(await queries.get_server(pool, server_id), "server", server_id)
        count = await retrying.retry_failed_of_server(
            pool, outbox, settings, server_id, by=str(request.user)
        )
        return BulkRetryOut(server_id=server_id, retried=count)
