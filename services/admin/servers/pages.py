"""``/servers``: the partner servers, their add/edit/delete forms and their action buttons.

Forms post back here (never to the bearer-token API) with the CSRF token; the values go
through the API's own models, so both reject the same mistakes with the same words.
Passwords and keys are write-only here too: a form never shows them, and leaving the field
empty keeps what is stored. A new server's form shows the database's column defaults, and
a setting left empty there is left to them.
"""

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from litestar import Controller, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_404_NOT_FOUND, HTTP_409_CONFLICT
from pydantic import ValidationError

from infra.crypto import SecretBox
from services.admin.dependencies import OutboxDep, PoolDep, SecretBoxDep, SettingsDep
from services.admin.files import retrying
from services.admin.rendering import AnyRequest, fragment, gone, message, not_found, notice, page
from services.admin.rows import Row
from services.admin.servers import queries
from services.admin.servers.probing import test_server
from services.admin.servers.schemas import ServerCreate, ServerUpdate

TEXT_FIELDS = ("name", "host", "port", "username", "remote_dir", "pattern", "poll_interval_s",
               "min_file_age_s", "max_connections", "host_key", "job_pattern", "archive_dir")
# Text fields that may be left empty: none, rather than an error or the column default.
OPTIONAL = frozenset({"host_key", "job_pattern", "archive_dir"})
# A browser always posts a select's value; a form that lacks one leaves the setting be.
SELECTS = ("post_fetch",)
CHECKBOXES = ("recursive", "enabled", "trust_on_first_use")
SECRETS = ("password", "private_key")
REQUIRED = frozenset(name for name, info in ServerCreate.model_fields.items()
                     if info.is_required())


def _values(form: Any, *, editing: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        text = str(form.get(name, "")).strip()
        if name in OPTIONAL:
            values[name] = text or None
        elif text or editing or name in REQUIRED:  # empty on an edit is an error
            values[name] = text
    for name in SELECTS:
        if (choice := str(form.get(name, "")).strip()):
            values[name] = choice
    for name in CHECKBOXES:
        values[name] = form.get(name) is not None
    for name in SECRETS:
        secret = str(form.get(name, ""))
        if secret.strip():
            values[name] = secret
        elif editing and form.get(f"clear_{name}") is not None:
            values[name] = None
    return values


def _errors(exc: ValidationError) -> dict[str, str]:
    found: dict[str, str] = {}
    for error in exc.errors(include_input=False, include_url=False):
        field = str(error["loc"][0]) if error["loc"] else "form"
        found.setdefault(field, error["msg"].removeprefix("Value error, "))
    return found


def _shown(values: dict[str, Any]) -> dict[str, Any]:
    """What a re-displayed form may show: everything except the secrets."""
    return {key: value for key, value in values.items() if key not in SECRETS}


def _no_server(request: AnyRequest, server_id: int) -> Template:
    return not_found(request, section="servers", text=f"There is no server with id {server_id}.")


def _form(request: AnyRequest, server: Row | None, values: Row,
          errors: dict[str, str] | None = None) -> Template:
    """The add (no ``server``) or edit form; with errors, shown again as a 400."""
    return page(request, "server_form.html", section="servers", server=server, values=values,
                errors=errors or {}, status_code=400 if errors else 200)


async def _save(request: AnyRequest, model: type[ServerCreate | ServerUpdate],
                write: Callable[[Row], Awaitable[Row | None]],
                box: SecretBox) -> tuple[dict[str, Any], dict[str, str]]:
    """Check the posted form with the API's model and write it: the values and field errors."""
    values = _values(await request.form(), editing=model is ServerUpdate)
    try:
        await write(model.model_validate(values).to_columns(box))
    except ValidationError as exc:
        return values, _errors(exc)
    except queries.ServerNameTaken as exc:
        return values, {"name": f"{exc}; choose another name"}
    except queries.ServerWithoutCredentials as exc:
        return values, {"password": str(exc)}
    except queries.ServerSettingsClash as exc:
        return values, {exc.field: str(exc)}
    return values, {}


class ServerPages(Controller):
    path = "/servers"
    include_in_schema = False

    @get()
    async def list_servers(self, request: AnyRequest, pool: PoolDep) -> Template:
        servers = await queries.list_servers(pool)
        return page(request, "servers.html", section="servers", servers=servers)

    @get("/new")
    async def new_form(self, request: AnyRequest, pool: PoolDep) -> Template:
        return _form(request, None, await queries.column_defaults(pool))

    @post("/new")
    async def create(self, request: AnyRequest, pool: PoolDep,
                     secret_box: SecretBoxDep) -> Template | Redirect:
        values, errors = await _save(request, ServerCreate, partial(queries.insert_server, pool),
                                     secret_box)
        if errors:
            defaults = await queries.column_defaults(pool)
            return _form(request, None, {**defaults, **_shown(values)}, errors)
        notice(request, f"Server {values['name']} added. Test its connection before relying on "
                        "it.")
        return Redirect("/servers", status_code=HTTP_303_SEE_OTHER)

    @get("/{server_id:int}/edit")
    async def edit_form(self, request: AnyRequest, server_id: FromPath[int],
                        pool: PoolDep) -> Template:
        if (server := await queries.get_server(pool, server_id)) is None:
            return _no_server(request, server_id)
        return _form(request, server, server)

    @post("/{server_id:int}/edit")
    async def update(self, request: AnyRequest, server_id: FromPath[int], pool: PoolDep,
                     secret_box: SecretBoxDep) -> Template | Redirect:
        if (server := await queries.get_server(pool, server_id)) is None:
            return _no_server(request, server_id)
        values, errors = await _save(
            request, ServerUpdate, partial(queries.update_server, pool, server_id), secret_box
        )
        if errors:
            return _form(request, server, {**server, **_shown(values)}, errors)
        notice(request, f"Server {values.get('name') or server['name']} saved.")
        return Redirect("/servers", status_code=HTTP_303_SEE_OTHER)

    @post("/{server_id:int}/delete")
    async def remove(self, request: AnyRequest, server_id: FromPath[int],
                     pool: PoolDep) -> Redirect:
        removal = await queries.remove_server(pool, server_id)
        if removal is None:
            notice(request, f"There is no server with id {server_id}.", "error")
        elif removal.deleted:
            notice(request, "Server deleted.")
        else:
            notice(request, f"{removal.file_count} file(s) came from this server, so it was "
                            "disabled instead of deleted to keep their history.")
        return Redirect("/servers", status_code=HTTP_303_SEE_OTHER)

    @post("/{server_id:int}/test", status_code=200)
    async def test(self, server_id: FromPath[int], pool: PoolDep,
                   secret_box: SecretBoxDep) -> Template:
        probe = await test_server(pool, secret_box, server_id)
        if probe is None:
            return gone("server")
        return fragment("_probe.html", probe=probe, server_id=server_id)

    @post("/{server_id:int}/pin-key", status_code=200)
    async def pin_key(self, request: AnyRequest, server_id: FromPath[int], pool: PoolDep,
                      secret_box: SecretBoxDep) -> Template:
        """Pin the host key a connection test showed (the operator compared it first)."""
        form = await request.form()
        try:
            body = ServerUpdate.model_validate({"host_key": str(form.get("host_key", ""))})
        except ValidationError as exc:
            return message(f"Not pinned: host key {_errors(exc).get('host_key', '')}",
                           kind="error", status_code=400)
        row = await queries.update_server(pool, server_id, body.to_columns(secret_box))
        if row is None:
            return gone("server")
        return message("Host key pinned. Test the connection again to confirm.")

    @post("/{server_id:int}/scan", status_code=200)
    async def scan(self, server_id: FromPath[int], pool: PoolDep) -> Template:
        if await queries.request_scan(pool, server_id) is not None:
            return message("Scan requested: discovery polls it within a few seconds.")
        exists = await queries.get_server(pool, server_id) is not None
        return message(
            "The server is disabled; enable it first." if exists else "No such server.",
            kind="error", status_code=HTTP_409_CONFLICT if exists else HTTP_404_NOT_FOUND,
        )

    @post("/{server_id:int}/retry-failed", status_code=200)
    async def retry_failed(self, request: AnyRequest, server_id: FromPath[int], pool: PoolDep,
                           outbox: OutboxDep, settings: SettingsDep) -> Template:
        count = await retrying.retry_failed_of_server(pool, outbox, settings,
                                                      server_id, by=str(request.user))
        text = f"Retrying {count} file(s)." if count else "No failed or missing files to retry."
        return message(text)
