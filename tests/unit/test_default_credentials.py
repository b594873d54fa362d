"""No service starts with credentials anyone can guess unless development says so
(INTAKE_ALLOW_DEFAULT_CREDENTIALS), and the refusal names the setting, never its value."""

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from infra.settings import Settings

REAL = {
    "database_url": "postgresql://intake:Xq3vT9pLm2@db.example:5432/intake",
    "amqp_url": "amqp://intake:Rk8wZ4nYc1@mq.example:5672/intake",
    "s3_access_key": "intake-7Hd2",
    "s3_secret_key": "Jf93kLq0ZxVb",
}
WELL_KNOWN = [
    ("s3_access_key", "minioadmin"),
    ("s3_secret_key", "minioadmin"),
    ("amqp_url", "amqp://guest:guest@mq.example:5672/"),
    ("amqp_url", "amqp://mq.example:5672/"),  # no user: the client logs in as guest
    ("database_url", "postgresql://postgres@db.example:5432/intake"),
    ("database_url", "postgresql://postgres:postgres@db.example/intake"),
]


def settings(**values: object) -> Settings:
    return Settings.model_validate({"secret_key": Fernet.generate_key().decode(),
                                    **REAL, **values})


def test_real_credentials_pass() -> None:
    settings()


@pytest.mark.parametrize(("name", "value"), WELL_KNOWN)
def test_a_well_known_credential_is_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ValidationError) as refused:
        settings(**{name: value})
    [error] = refused.value.errors(include_input=False)
    assert error["loc"] == (name,)
    assert "well-known default credentials" in error["msg"]
    assert "INTAKE_ALLOW_DEFAULT_CREDENTIALS" in error["msg"]
    assert value not in str(refused.value)


@pytest.mark.parametrize(("name", "value"), WELL_KNOWN)
def test_the_development_flag_allows_them(name: str, value: str) -> None:
    settings(**{name: value}, allow_default_credentials=True)


def test_the_superuser_without_password_on_this_machine_passes() -> None:
    """Local mode's PostgreSQL with trust authentication on loopback."""
    settings(database_url="postgresql://postgres@127.0.0.1:5432/intake")


def test_the_defaults_are_refused_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_SECRET_KEY", Fernet.generate_key().decode())
    monkeypatch.delenv("INTAKE_ALLOW_DEFAULT_CREDENTIALS", raising=False)
    with pytest.raises(ValidationError) as refused:
        Settings()  # type: ignore[call-arg]
    assert {error["loc"] for error in refused.value.errors()} == {
        ("amqp_url",), ("s3_access_key",), ("s3_secret_key",)}
    monkeypatch.setenv("INTAKE_ALLOW_DEFAULT_CREDENTIALS", "true")
    Settings()  # type: ignore[call-arg]
