"""The admin serves the AsyncAPI document of the messages, ``docs/asyncapi.json``, to the
credentials that read the OpenAPI document, and links it from the console and the API docs."""

import json
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from services.admin import api_docs
from tests.integration.conftest import Console

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"
DOCUMENT = "/schema/asyncapi.json"


def test_the_admin_serves_the_committed_document(client: TestClient[Litestar],
                                                 console: Console) -> None:
    served = client.get(DOCUMENT)
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("application/json")
    assert served.json() == json.loads(COMMITTED.read_text())
    assert served.json()["operations"]["file_imports:Publisher"]["action"] == "send"
    assert console.get(DOCUMENT).json() == served.json()  # a logged-in operator reads it too


def test_the_document_needs_a_credential(anonymous: TestClient[Litestar]) -> None:
    refused = anonymous.get(DOCUMENT, follow_redirects=False)
    assert refused.status_code == 401  # an answer a script can read, not a login redirect
    assert refused.json()["status_code"] == 401
    assert "Bearer" in refused.headers["www-authenticate"]
    assert "channels" not in refused.text


def test_the_console_and_the_api_docs_link_it(client: TestClient[Litestar],
                                              console: Console) -> None:
    assert f'href="{DOCUMENT}"' in console.get("/files").text
    description = client.get("/schema/openapi.json").json()["info"]["description"]
    assert f"]({DOCUMENT})" in description
    assert DOCUMENT not in client.get("/schema/openapi.json").json()["paths"]


def test_a_missing_document_is_a_404_that_says_so(client: TestClient[Litestar],
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setattr(api_docs, "ASYNCAPI_FILE", tmp_path / "asyncapi.json")
    missing = client.get(DOCUMENT)
    assert missing.status_code == 404
    assert "docs/asyncapi.json" in missing.json()["detail"]
