"""Every INTAKE_* line of .env.example names a real setting of some service and shows its
default, so that the file never documents a value the code does not use. A line that sets
another value on purpose ends with ``# override: <why>``; an empty value marks a required
setting (no default); a commented-out ``# INTAKE_X=...`` line is a setting unset by default."""

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from services.admin.settings import AdminSettings
from services.discovery.settings import DiscoverySettings
from services.downloader.settings import DownloaderSettings
from services.notifier.settings import NotifierSettings
from services.processor.settings import ProcessorSettings
from services.uploader.settings import UploaderSettings

ROOT = Path(__file__).resolve().parents[2]
SERVICES: list[type[BaseSettings]] = [AdminSettings, DiscoverySettings, DownloaderSettings,
                                      NotifierSettings, ProcessorSettings, UploaderSettings]
LINE = re.compile(r"^(?P<off># )?INTAKE_(?P<name>[A-Z0-9_]+)=(?P<value>[^#]*?)\s*"
                  r"(?P<override># override: .+)?$")


def lines() -> list[re.Match[str]]:
    found = [LINE.match(line) for line in (ROOT / ".env.example").read_text().splitlines()]
    return [match for match in found if match]


def field(name: str) -> FieldInfo | None:
    return next((settings.model_fields[name] for settings in SERVICES
                 if name in settings.model_fields), None)


def plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def test_the_file_has_settings() -> None:
    assert len(lines()) > 40


@pytest.mark.parametrize("line", lines(), ids=lambda line: line["name"])
def test_each_line_is_a_real_setting_at_its_default(line: re.Match[str]) -> None:
    name = f"INTAKE_{line['name']}"
    info = field(line["name"].lower())
    assert info is not None, f"{name} is no setting of any service"
    if line["override"]:
        return
    if line["off"]:
        assert info.default is None, f"{name} is commented out but has a default"
    elif info.is_required():
        assert line["value"] == "", f"{name} is required: leave its value empty"
    else:
        shown = plain(TypeAdapter(info.annotation).validate_strings(line["value"]))
        assert shown == plain(info.default), (
            f"{name}={line['value']} but the code's default is {plain(info.default)!r}:"
            " fix one, or end the line with # override: <why>")
