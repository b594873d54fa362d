import pytest

from tests.processes import Pipeline


@pytest.fixture
def pipeline(pipeline_env, tmp_path):
    """All five services as processes; each must exit cleanly on SIGTERM at the end."""
    pipeline = Pipeline(pipeline_env, tmp_path / "logs")
    try:
        pipeline.start()
        yield pipeline
    finally:
        codes = pipeline.stop()
        print(pipeline.logs())
    assert all(code == 0 for code in codes.values()), f"unclean shutdown: {codes}"
