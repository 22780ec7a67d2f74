"""Streamed CSV downloads: rows go out as the database cursor yields them, in constant memory, and no
cell is one a spreadsheet would run as a formula. The release list, the audit trail and the metrics
export through here."""

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A cell a spreadsheet shows as text: empty for None, "yes"/"no" for a flag, ISO 8601 for dates
    and times, and a leading ' on text starting = + - @ (or a tab or CR)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_response(filename: str, header: list[str], rows: Iterable) -> StreamingHttpResponse:
    """`header`, then each row of `rows` (an iterable of cell values), made safe by csv_cell."""
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([csv_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def labelled(rows: Iterable, column: int, choices) -> Iterable:
    """`rows` with the code in `column` replaced by its label, as the pages show it ("rolled_back" is
    "Rolled back"); a code the choices do not know stays as it is."""
    labels = dict(choices)
    for row in rows:
        row = list(row)
        row[column] = labels.get(row[column], row[column])
        yield row


class _Echo:
    """csv.writer writes to this and gets the line back, so each row can be yielded."""

    def write(self, value: str) -> str:
        return value
