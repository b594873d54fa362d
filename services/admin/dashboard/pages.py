"""``/``: the dashboard — counts, throughput chart, stuck files, servers — refreshed by htmx."""

from dataclasses import dataclass

from litestar import get
from litestar.response import Template

from services.admin.dashboard.schemas import MinuteOut
from services.admin.dependencies import StatsDep
from services.admin.rendering import AnyRequest, fragment, page
from services.admin.templating import filesize

CHART_WIDTH = 600
CHART_HEIGHT = 140
_TOP = 18  # room for the value labels above the bars
_BOTTOM = 18  # room for the time labels below


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    title: str
    tick: str | None


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    baseline: float
    bars: list[Bar]
    peak_label: str
    empty: bool




def throughput_chart(minutes: list[MinuteOut]) -> Chart:
    """Bars of bytes stored per minute, scaled to the busiest minute (drawn as inline SVG)."""
    peak = max((m.bytes for m in minutes), default=0)
    plot = CHART_HEIGHT - _TOP - _BOTTOM
    slot = CHART_WIDTH / max(len(minutes), 1)
    bars = []
    for index, minute in enumerate(minutes):
        height = plot * minute.bytes / peak if peak else 0.0
        height = max(height, 2.0) if minute.files else height
        local = minute.minute.strftime("%H:%M")
        bars.append(Bar(
            x=index * slot + slot * 0.15, y=_TOP + plot - height, width=slot * 0.7, height=height,
            label=str(minute.files) if minute.files else "",
            title=f"{local} UTC: {minute.files} file(s), {filesize(minute.bytes)}",
            tick=local if index % 3 == 2 or index == len(minutes) - 1 else None,
        ))
    return Chart(CHART_WIDTH, CHART_HEIGHT, _TOP + plot, bars, filesize(peak), peak == 0)


async def _context(stats: StatsDep) -> dict[str, object]:
    numbers = await stats.get()
    minutes = numbers.stored_per_minute
    return {
        "stats": numbers,
        "chart": throughput_chart(minutes),
        "stored_files_15m": sum(m.files for m in minutes),
        "stored_bytes_15m": sum(m.bytes for m in minutes),
    }


@get("/", include_in_schema=False)
async def dashboard(request: AnyRequest, stats: StatsDep) -> Template:
    return page(request, "dashboard.html", section="dashboard", **await _context(stats))


@get("/dashboard/live", include_in_schema=False)
async def dashboard_live(stats: StatsDep) -> Template:
    """The dashboard's body alone, for htmx to swap in every few seconds."""
    return fragment("_dashboard_live.html", **await _context(stats))
