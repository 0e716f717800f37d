"""CSV downloads of model output that are safe to open in a spreadsheet."""

import csv
import json

# A cell starting with one of these is a formula to a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file that hands back what is written: csv.writer then yields lines to stream."""

    def write(self, value):
        return value


def cell(value) -> str:
    """Model output and subjects are untrusted: a spreadsheet must not run them as formulas.
    None is an empty cell; a dict or a list is written as JSON."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value)
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(columns: list[str], rows):
    """The CSV of `rows` (dicts with these columns), a line at a time, for streaming."""
    writer = csv.writer(_Echo())
    yield writer.writerow(columns)
    for row in rows:
        yield writer.writerow([cell(row[column]) for column in columns])
