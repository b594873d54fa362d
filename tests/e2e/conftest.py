import signal

import pytest

from tests.leftovers import retire_earlier_tests
from tests.processes import Pipeline


@pytest.fixture
def pipeline(pipeline_env, tmp_path):
    """All five services as processes; each must exit cleanly on SIGTERM at the end."""
    retire_earlier_tests(pipeline_env["INTAKE_DATABASE_URL"])
    pipeline = Pipeline(pipeline_env, tmp_path / "logs")
    try:
        pipeline.start()
        yield pipeline
    finally:
        codes = pipeline.stop()
        print(pipeline.logs())
    # uvicorn re-raises SIGTERM after a complete graceful shutdown, hence -SIGTERM.
    assert all(code in (0, -signal.SIGTERM) for code in codes.values()), codes
    assert all("Application shutdown complete" in s.log_path.read_text() for s in pipeline.all)
