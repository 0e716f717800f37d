"""The figures each scenario prints: one table, the same columns everywhere."""

from __future__ import annotations

from pathlib import Path

COLUMNS = ("scenario", "sent", "stored", "duplicates", "lost", "dropped", "recover s")


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def table(title: str, rows: list[dict], notes: list[str] = ()) -> str:
    """Rows of `COLUMNS` (missing ones as "-"), then one line per note."""
    cells = [[str(row.get(c, "-")) for c in COLUMNS] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(COLUMNS)]
    line = "  ".join(
        c.ljust(w) if i == 0 else c.rjust(w)
        for i, (c, w) in enumerate(zip(COLUMNS, widths, strict=True))
    )
    out = [f"\n== {title}  (load average {load()})", line, "-" * len(line)]
    for r in cells:
        out.append(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w)
                for i, (v, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    out.extend(f"   {note}" for note in notes)
    return "\n".join(out)


def seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f}"
