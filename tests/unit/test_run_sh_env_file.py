"""The env file run.sh generates holds no well-known credential (minioadmin, guest,
postgres without a password, ...), and compose/docker-compose.yml builds every account of
the Docker mode from it: no server or service is left with a default."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from infra.settings import well_known_credentials

ROOT = Path(__file__).resolve().parents[2]
# Passwords any scanner tries first, beyond what the services' own check refuses.
GUESSABLE = {"", "minioadmin", "guest", "postgres", "intake", "password", "admin"}
PASSWORDS = ("POSTGRES_SUPERUSER_PASSWORD", "POSTGRES_INTAKE_PASSWORD",
             "RABBITMQ_INTAKE_PASSWORD", "MINIO_ROOT_PASSWORD", "GRAFANA_ADMIN_PASSWORD",
             "INTAKE_S3_ACCESS_KEY", "INTAKE_S3_SECRET_KEY")


def run_sh_functions(*names: str) -> str:
    script = (ROOT / "run.sh").read_text()
    bodies = []
    for name in names:
        match = re.search(rf"^{name}\(\) \{{(\n.*?^\}}\n| .*?\}}\n)", script,
                          re.MULTILINE | re.DOTALL)
        assert match, f"run.sh has no {name} function"
        bodies.append(match.group(0))
    return "".join(bodies)


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The env file of a first ./run.sh, made by run.sh's own write_env_file."""
    state = tmp_path_factory.mktemp("state")
    program = (f"set -euo pipefail\nSTATE={state}\nENV_FILE=$STATE/intake.env\n"
               + run_sh_functions("has", "setting", "token", "load_env", "write_env_file")
               + "write_env_file\n")
    subprocess.run(["bash", "-c", program], cwd=ROOT, env={"PATH": "/usr/bin:/bin"},
                   check=True, capture_output=True, text=True, timeout=120)
    return state / "intake.env"


def values(env_file: Path) -> dict[str, str]:
    lines = [line for line in env_file.read_text().splitlines()
             if line and not line.startswith("#")]
    return {key: value.strip("'") for key, value in (line.split("=", 1) for line in lines)}


def test_no_well_known_value(env_file: Path) -> None:
    written = values(env_file)
    for name in PASSWORDS:
        assert written.get(name, "") not in GUESSABLE, f"{name} is missing or guessable"
        assert len(written[name]) >= 12, name
    for name, value in written.items():
        setting = name.removeprefix("INTAKE_").lower()
        assert not well_known_credentials(setting, value), name
    assert "INTAKE_ALLOW_DEFAULT_CREDENTIALS" not in written  # Docker mode reads this file


def test_compose_accepts_it(env_file: Path) -> None:
    docker_compose = shutil.which("docker-compose")
    if docker_compose is None:
        pytest.skip("docker-compose is missing: scripts/install.sh installs it (as root)")
    result = subprocess.run(
        [docker_compose, "--env-file", str(env_file), "-f", "compose/docker-compose.yml",
         "config"], cwd=ROOT, capture_output=True, text=True, check=False,
        env={"PATH": "/usr/bin:/bin", "INTAKE_ENV_FILE": str(env_file)})
    assert result.returncode == 0, result.stderr
    config = result.stdout
    written = values(env_file)
    for name in PASSWORDS:
        assert written[name] in config, f"compose does not use {name}"
    for default in ("minioadmin", "guest:guest", "intake:intake@"):
        assert default not in config
