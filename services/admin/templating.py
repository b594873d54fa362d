"""Jinja environment for the HTML pages: autoescaped, strict, with display filters."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

TEMPLATES = Path(__file__).parent / "templates"
_SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def filesize(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    exponent = min((size.bit_length() - 1) // 10, len(_SIZE_UNITS) - 1)
    return f"{size / 1024**exponent:.1f} {_SIZE_UNITS[exponent]}"


def rate(bytes_per_second: float) -> str:
    return f"{filesize(int(bytes_per_second))}/s"


def timestamp(moment: datetime | None, *, milliseconds: bool = False) -> str:
    if moment is None:
        return "—"
    moment = moment.astimezone(UTC)
    if milliseconds:
        return moment.isoformat(sep=" ", timespec="milliseconds").replace("+00:00", " UTC")
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(delta: timedelta | None) -> str:
    if delta is None:
        return ""
    seconds = delta.total_seconds()
    if seconds < 10:
        return f"+{seconds:.3f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"+{days} d {hours} h"
    if hours:
        return f"+{hours} h {minutes} min"
    if minutes:
        return f"+{minutes} min {secs} s"
    return f"+{secs} s"


def seconds(value: float | None) -> str:
    """An age or a wait in the largest unit that keeps it readable: 45 s, 12 min, 3 h 5 min."""
    if value is None:
        return "—"
    total = int(value)
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min"
    if total < 86400:
        return f"{total // 3600} h {total % 3600 // 60} min"
    return f"{total // 86400} d {total % 86400 // 3600} h"


def ago(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    return f"{seconds((datetime.now(UTC) - moment).total_seconds())} ago"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        filesize=filesize, timestamp=timestamp, duration=duration, pretty_json=pretty_json,
        seconds=seconds, ago=ago, rate=rate,
    )
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))
