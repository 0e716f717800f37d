"""Signal charts drawn on the server as SVG: no chart library, nothing from a CDN, no
script (the Content-Security-Policy allows none inline), readable without JavaScript."""

from dataclasses import dataclass, field

WIDTH, HEIGHT = 640, 180
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 52, 12, 10, 24


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    line: list[str] = field(default_factory=list)  # polyline point lists (gaps split it)
    band: str = ""  # polygon points of the baseline band
    baseline_y: float | None = None
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_ticks: list[tuple[float, str, str]] = field(default_factory=list)  # x, UTC label, ISO
    marks: list[tuple[float, str]] = field(default_factory=list)  # vertical lines (onset…)
    last: str = ""
    empty: bool = True
    plot_left: int = PAD_LEFT
    plot_right: int = WIDTH - PAD_RIGHT
    plot_top: int = PAD_TOP
    plot_bottom: int = HEIGHT - PAD_BOTTOM


def label(value: float, percent: bool) -> str:
    if percent:
        return f"{value:.1%}" if value < 0.1 else f"{value:.0%}"
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.2g}"


def signal_chart(points: list[dict], *, percent: bool, baseline=None, marks=()) -> Chart:
    """`points`: [{"at", "value", "lo", "hi"}] evenly spaced. `marks`: [(datetime, label)]."""
    chart = Chart()
    values = [p["value"] for p in points if p["value"] is not None]
    if not points or not values:
        return chart
    chart.empty = False
    highs = values + [p["hi"] for p in points if p["hi"] is not None]
    lows = values + [p["lo"] for p in points if p["lo"] is not None]
    if baseline is not None:
        highs.append(baseline)
        lows.append(baseline)
    top = max(highs) * 1.1 or 1.0
    bottom = 0.0 if percent or min(lows) >= 0 else min(lows) * 1.1
    span = (top - bottom) or 1.0
    plot_w = chart.plot_right - chart.plot_left
    plot_h = chart.plot_bottom - chart.plot_top
    step = plot_w / max(len(points) - 1, 1)

    def x(i: float) -> float:
        return round(chart.plot_left + i * step, 1)

    def y(v: float) -> float:
        return round(chart.plot_bottom - (v - bottom) / span * plot_h, 1)

    run: list[str] = []
    for i, p in enumerate(points):
        if p["value"] is None:
            if run:
                chart.line.append(" ".join(run))
            run = []
            continue
        run.append(f"{x(i)},{y(p['value'])}")
    if run:
        chart.line.append(" ".join(run))
    upper = [(x(i), y(p["hi"])) for i, p in enumerate(points) if p["hi"] is not None]
    lower = [(x(i), y(p["lo"])) for i, p in enumerate(points) if p["lo"] is not None]
    if upper:
        chart.band = " ".join(f"{a},{b}" for a, b in upper + lower[::-1])
    if baseline is not None:
        chart.baseline_y = y(baseline)
    chart.y_ticks = [
        (y(bottom + span * k / 4), label(bottom + span * k / 4, percent)) for k in range(5)
    ]
    every = max(len(points) // 6, 1)
    chart.x_ticks = [
        (x(i), p["at"].strftime("%H:%M"), p["at"].isoformat())
        for i, p in enumerate(points)
        if i % every == 0
    ]
    first, last = points[0]["at"], points[-1]["at"]
    seconds = (last - first).total_seconds() or 1.0
    for at, text in marks:
        if at is not None and first <= at <= last:
            chart.marks.append(
                (x((at - first).total_seconds() / seconds * (len(points) - 1)), text)
            )
    chart.last = label(values[-1], percent)
    return chart
