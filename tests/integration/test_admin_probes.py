"""Probes, metrics and the OpenAPI document, and what the admin does when its database goes."""

import pytest
from litestar import Litestar
from litestar.testing import TestClient


def test_probes_and_schema(
    client: TestClient[Litestar], app: Litestar, caplog: pytest.LogCaptureFixture
) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200

    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert 'intake_admin_http_requests_total{method="GET",route="/readyz",status="200"}' in (
        metrics.text
    )

    schema = client.get("/schema/openapi.json").json()
    assert schema["info"]["title"] == "Intake admin"
    assert "/api/servers" in schema["paths"]
    assert "/api/files/{file_id}" in schema["paths"]
    assert not {"/healthz", "/readyz", "/metrics", "/files", "/"} & set(schema["paths"])
    assert client.get("/schema/swagger").status_code == 200

    client.blocking_portal.call(app.state.pool.close)
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200
    failed = client.get("/api/servers")
    assert failed.status_code == 500
    assert "pool" not in failed.text.lower()  # the cause goes to the log, not to the client
    assert any("unhandled error on GET /api/servers" in r.getMessage() for r in caplog.records)

