"""The console's upload form without JavaScript: its CSRF token and size limit are enforced
while the body streams, not after it has been read (the middleware would parse it all)."""

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from infra.storage import ObjectStore
from services.admin.main import create_app
from services.admin.settings import AdminSettings
from tests.integration.conftest import AdminCredentials, Console

LIMIT = 1000
PIECE = 512
BIG = 20 * 1024 * 1024


@pytest.fixture
def small(admin_settings: AdminSettings, admin_credentials: AdminCredentials) -> Iterator[Console]:
    """A logged-in console of an admin that takes uploads of at most LIMIT bytes."""
    app = create_app(admin_settings.model_copy(update={"max_upload_bytes": LIMIT}))
    with TestClient(app=app) as client:
        console = Console(client)
        assert console.login(admin_credentials.user, admin_credentials.password).status_code == 303
        yield console


def form(token: str | None, size: int, name: str = "form.bin") -> Iterator[bytes]:
    """The form's body as a browser sends it, the token first, the file in PIECE pieces."""
    if token is not None:
        yield (b'--B\r\nContent-Disposition: form-data; name="_csrf_token"\r\n\r\n'
               + token.encode() + b"\r\n")
    yield (b'--B\r\nContent-Disposition: form-data; name="file"; filename="' + name.encode()
           + b'"\r\nContent-Type: application/octet-stream\r\n\r\n')
    for start in range(0, size, PIECE):
        yield b"x" * min(PIECE, size - start)
    yield b"\r\n--B--\r\n"


def post_form(console: Console, body: Iterator[bytes],
              length: int | None = None) -> tuple[int, int, str]:
    """POST /upload straight into the app, which pulls the body piece by piece (the test
    client would read it all first): (status, bytes the app pulled, answer)."""
    client = console.client
    pulled = 0
    answer: dict[str, Any] = {"body": b""}
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal pulled, done
        piece = None if done else next(body, None)
        if piece is None:
            done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += len(piece)
        return {"type": "http.request", "body": piece, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    cookies = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    headers = [(b"host", b"testserver.local"), (b"cookie", cookies.encode()),
               (b"content-type", b"multipart/form-data; boundary=B")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/upload", "raw_path": b"/upload",
             "root_path": "", "query_string": b"", "headers": headers,
             "client": ("127.0.0.1", 50000), "server": ("testserver.local", 80),
             "state": {}, "extensions": {}}
    client.blocking_portal.call(client.app, scope, receive, send)
    return answer["status"], pulled, answer["body"].decode()


def open_keys(admin_settings: AdminSettings) -> set[str]:
    store = ObjectStore(admin_settings)
    store.ensure_bucket()
    return {u.key for u in store.open_uploads("upload/")}


def test_a_form_upload_over_the_limit_is_refused_before_its_body_is_read(
        small: Console) -> None:
    token = small.csrf("/upload")
    declared = sum(len(piece) for piece in form(token, BIG))
    status, pulled, _ = post_form(small, form(token, BIG), length=declared)
    assert (status, pulled) == (413, 0)
    # A body of no declared length is cut off as soon as the file passes the limit.
    status, pulled, page = post_form(small, form(token, BIG))
    assert status == 413
    assert pulled <= LIMIT + 2 * PIECE + 200
    assert "limit of 1000 bytes" in page


def test_a_form_upload_needs_its_csrf_token_before_the_file(
        small: Console, admin_settings: AdminSettings) -> None:
    before = open_keys(admin_settings)
    for token in (None, "0" * 128, small.csrf("/upload")[:-1] + "x"):
        status, pulled, page = post_form(small, form(token, BIG))
        assert status == 403, token
        assert pulled < 2 * PIECE, token  # refused where the file begins
        assert "CSRF" in page
    # htmx sends the token as a header: checked before the body is read.
    forged = small.client.post("/upload", files={"file": ("h.bin", b"x")},
                               headers={"x-csrftoken": "0" * 128, "hx-request": "true"})
    assert forged.status_code == 403
    assert open_keys(admin_settings) == before


def test_a_form_upload_within_the_limit_is_accepted(small: Console) -> None:
    token = small.csrf("/upload")
    status, _, page = post_form(small, form(token, LIMIT, name="fits.bin"))
    assert status == 202, page
    assert "Accepted as" in page and "fits.bin" in page
    # The answer's page carries the token on for the next upload.
    assert f'name="_csrf_token" value="{token}"' in page
