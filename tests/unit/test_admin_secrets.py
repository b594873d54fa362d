"""The admin's token and session secret: guessable or padded values stop it at start-up
with the rule they break; what run.sh generates always passes."""

import secrets
import subprocess
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from services.admin.auth.passwords import hash_password
from services.admin.settings import AdminSettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
SECRETS = ("INTAKE_ADMIN_TOKEN", "INTAKE_SESSION_SECRET")


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password("a console password", n=2**14)


def start(monkeypatch: pytest.MonkeyPatch, password_hash: str, **values: str) -> None:
    """Read the admin's settings from an environment holding ``values`` as its secrets."""
    monkeypatch.setenv("INTAKE_SECRET_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("INTAKE_ALLOW_DEFAULT_CREDENTIALS", "true")
    monkeypatch.setenv("INTAKE_ADMIN_PASSWORD_HASH", password_hash)
    for name in SECRETS:
        monkeypatch.setenv(name, values.get(name, secrets.token_urlsafe(32)))
    load_settings()


def run_sh_tokens(count: int) -> list[str]:
    """``count`` values made by run.sh's own ``token`` function, called as run.sh calls it."""
    script = (ROOT / "run.sh").read_text()
    [definition] = [line for line in script.splitlines() if line.startswith("token()")]
    assert '"$(token 32)"' in script  # how run.sh makes both secrets
    loop = f'{definition}\nfor _ in $(seq {count}); do token 32; done'
    out = subprocess.run(["bash", "-c", loop], capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        pytest.param("a" * 32, "too guessable", id="one character"),
        pytest.param("password" * 4, "too guessable", id="a word repeated"),
        pytest.param("changeme-" * 4, "too guessable", id="a phrase repeated"),
        pytest.param(secrets.token_hex(16), "too guessable", id="32 hex digits"),
        pytest.param("Tr0ub4dor&3", "at least 32 characters", id="short"),
        pytest.param(secrets.token_urlsafe(32) + " ", "whitespace", id="trailing space"),
        pytest.param(" " + secrets.token_urlsafe(32), "whitespace", id="leading space"),
        pytest.param(secrets.token_urlsafe(32) + "\n", "whitespace", id="newline"),
        pytest.param(f"{secrets.token_urlsafe(16)} {secrets.token_urlsafe(16)}", "whitespace",
                     id="inner space"),
    ],
)
@pytest.mark.parametrize("name", SECRETS)
def test_a_weak_or_padded_secret_stops_the_admin(monkeypatch: pytest.MonkeyPatch,
                                                 password_hash: str, name: str, value: str,
                                                 rule: str) -> None:
    with pytest.raises(AdminSettingsError) as stopped:
        start(monkeypatch, password_hash, **{name: value})
    message = str(stopped.value)
    [line] = [line for line in message.splitlines() if line.startswith(f"  {name}:")]
    assert rule in line
    assert value.strip() not in message
    assert f"{name}=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')" in message


def test_what_run_sh_generates_passes(monkeypatch: pytest.MonkeyPatch,
                                      password_hash: str) -> None:
    tokens = run_sh_tokens(10)
    assert len(tokens) == 10
    for token, secret in zip(tokens[::2], tokens[1::2], strict=True):
        start(monkeypatch, password_hash, INTAKE_ADMIN_TOKEN=token, INTAKE_SESSION_SECRET=secret)


def test_random_secrets_of_the_documented_forms_pass(monkeypatch: pytest.MonkeyPatch,
                                                     password_hash: str) -> None:
    for _ in range(200):
        start(monkeypatch, password_hash, INTAKE_ADMIN_TOKEN=secrets.token_urlsafe(32),
              INTAKE_SESSION_SECRET=secrets.token_hex(32))
