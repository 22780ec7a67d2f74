"""Releases and their dependencies from a spreadsheet (CSV or XLSX): reading the file, and the plan of
what an import would create, with every row's problems in words. Nothing here writes.

`read_sheet` turns an uploaded file into rows of text (refusing, with ImportFileError, a file it cannot
read: too large, not CSV nor XLSX, corrupt, too many rows). `import_plan` checks the rows against the
database in a fixed number of queries, whatever the number of rows, and returns an ImportPlan: each row
with its problems (unknown application, bad date, duplicate, cycle, target inside a freeze...). The
service (releases.planning.services.imports.release_import) builds the plan again inside its
transaction and writes nothing unless the plan is clean.

Columns: Application (its key), Version, Target date, Code freeze, Summary, Train (its name), Depends on
("KEY version; KEY version": releases in the portal or rows of the same file). Headers match whatever
their case and spacing.
"""

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db.models.functions import Lower

from releases.errors import DomainError
from releases.models import Application, Portfolio, Release, ReleaseTrain
from releases.planning.forms import PlanDateField
from releases.planning.services.freezes import frozen_targets
from releases.querysets import portfolio_lineage

COLUMNS = ("Application", "Version", "Target date", "Code freeze", "Summary", "Train", "Depends on")
REQUIRED = ("Application", "Version", "Target date")
# The longest text each column takes: the model's own limits, and a bound on the list of dependencies.
MAX_LENGTH = {
    "Application": 32,
    "Version": 64,
    "Target date": 40,
    "Code freeze": 40,
    "Summary": 300,
    "Train": 200,
    "Depends on": 2000,
}
MAX_DEPENDENCIES = 50  # per row
MAX_FILE_BYTES = 2 * 1024 * 1024
# Each row is written through its audited services (release_create, dependency_add): about 50 ms a
# row with a dependency on a developer's machine, so 500 rows stay well inside the web worker's 60 s
# timeout (deploy/gunicorn.conf.py) and hold SQLite's single writer for no longer. A larger plan is
# split into several files; importing in a background task would lift this.
MAX_ROWS = 500
MAX_UNPACKED_BYTES = 64 * 1024 * 1024  # an XLSX's parts, uncompressed: a zip bomb stops here
MAX_BLANK_ROWS = 20_000  # blank (often only formatted) rows skipped before a sheet is refused as padding
EXTENSIONS = (".csv", ".xlsx")


class ImportFileError(DomainError):
    """A file that cannot be read as a sheet of releases; the message says what to do instead."""

    status = 422


@dataclass(frozen=True)
class SheetRow:
    """A row as text, numbered as the spreadsheet shows it (the header is row 1)."""

    number: int
    cells: dict[str, str]  # column name (one of COLUMNS) -> text, stripped
    extra: bool = False  # it has values in columns without a known header

    def __getitem__(self, column: str) -> str:
        return self.cells.get(column, "")


@dataclass(frozen=True)
class Sheet:
    name: str
    rows: list[SheetRow]
    problems: list[str] = field(default_factory=list)  # of the file as a whole: unknown headers...

    def payload(self) -> dict:
        """Plain data, to sign for the confirm step (releases.planning.views.release_import)."""
        return {
            "name": self.name,
            "problems": self.problems,
            "rows": [[row.number, [row[c] for c in COLUMNS]] for row in self.rows],
        }

    @classmethod
    def from_payload(cls, data: dict) -> "Sheet":
        rows = [SheetRow(number, dict(zip(COLUMNS, cells, strict=True))) for number, cells in data["rows"]]
        return cls(name=data["name"], rows=rows, problems=list(data["problems"]))


@dataclass
class PlannedRow:
    """What one row would create, or why it cannot."""

    number: int
    key: str
    version: str
    summary: str
    train_name: str
    depends_on: list[str]  # as "KEY version"
    target: date | None = None
    freeze: date | None = None
    target_text: str = ""  # as typed: the preview shows what it could not read
    freeze_text: str = ""
    application: Application | None = None
    train: ReleaseTrain | None = None
    upstream_rows: list[int] = field(default_factory=list)  # row numbers in this file
    upstream_ids: list[int] = field(default_factory=list)  # releases already in the portal
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.key} {self.version}".strip()


@dataclass
class ImportPlan:
    sheet: Sheet
    rows: list[PlannedRow]

    @property
    def problems(self) -> list[str]:
        """The file's problems, then each row's as "Row N: ..."."""
        return self.sheet.problems + [f"Row {r.number}: {p}" for r in self.rows for p in r.problems]

    @property
    def clean(self) -> bool:
        return bool(self.rows) and not self.problems

    @property
    def dependency_count(self) -> int:
        return sum(len(r.upstream_rows) + len(r.upstream_ids) for r in self.rows)


# --- reading the file ----------------------------------------------------------------------------


def read_sheet(*, name: str, size: int, chunks: Iterable[bytes]) -> Sheet:
    """The rows of an uploaded CSV or XLSX file (by its extension), as text."""
    lower = name.lower()
    if not lower.endswith(EXTENSIONS):
        raise ImportFileError("Upload a .csv or .xlsx file (the template is one of each).", field="file")
    if size > MAX_FILE_BYTES:
        raise ImportFileError(
            f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB: split it into smaller files.",
            field="file",
        )
    data = b"".join(chunks)[: MAX_FILE_BYTES + 1]
    if not data.strip():
        raise ImportFileError("The file is empty.", field="file")
    records = _xlsx_records(data) if lower.endswith(".xlsx") else _csv_records(data)
    return _sheet(name, records)


def _csv_records(data: bytes) -> Iterator[tuple[int, list]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError(
            "The file is not UTF-8 text: in your spreadsheet, save it as “CSV UTF-8”, or as .xlsx.",
            field="file",
        ) from None
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)  # Excel writes ";" where "," is the decimal comma
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        yield from enumerate(reader, start=1)
    except csv.Error as error:
        words = f"The file is not CSV the import can read ({error})."
        if "field limit" in str(error):  # csv.field_size_limit(), 131,072 characters
            words = "A cell of the file is far longer than any column takes."
        raise ImportFileError(words, field="file") from None


def _xlsx_records(data: bytes) -> Iterator[tuple[int, list]]:
    from openpyxl import load_workbook  # only an XLSX upload needs it

    unreadable = ImportFileError(
        "The file is not an XLSX workbook the import can read: save it again as .xlsx, or as CSV UTF-8.",
        field="file",
    )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise unreadable from None
    if unpacked > MAX_UNPACKED_BYTES:  # zipfile never inflates a part past the size it declares
        raise ImportFileError("The workbook unpacks to too much data: save it as CSV instead.", field="file")
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet = workbook.worksheets[0]
            for number, values in enumerate(sheet.iter_rows(max_col=len(COLUMNS) + 20, values_only=True), 1):
                yield number, list(values)
        finally:
            workbook.close()
    except Exception:  # openpyxl raises whatever its parsers do on a corrupt part; the file is refused
        raise unreadable from None


def _text(value) -> str:
    """A cell as text: a date cell as YYYY-MM-DD, a whole number without ".0"."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _header(text: str) -> str:
    return " ".join(text.replace("_", " ").split()).casefold()


HEADERS = {_header(column): column for column in COLUMNS}


def _sheet(name: str, records: Iterator[tuple[int, list]]) -> Sheet:
    problems: list[str] = []
    columns: list[str | None] = []
    rows: list[SheetRow] = []
    blanks = 0
    for number, values in records:
        texts = [_text(value) for value in values]
        if not any(texts):
            blanks += 1
            if blanks > MAX_BLANK_ROWS:
                raise ImportFileError("The sheet holds too many blank rows.", field="file")
            continue
        if not columns:
            columns = _columns(texts, problems)
            continue
        if len(rows) >= MAX_ROWS:
            raise ImportFileError(
                f"The file has more than {MAX_ROWS:,} rows: split it into smaller files.", field="file"
            )
        cells = {column: text for column, text in zip(columns, texts, strict=False) if column}
        extra = [t for column, t in zip(columns, texts, strict=False) if column is None and t]
        extra += [t for t in texts[len(columns) :] if t]
        rows.append(SheetRow(number, cells, extra=bool(extra)))
    if not columns:
        raise ImportFileError("The file is empty.", field="file")
    if not rows:
        raise ImportFileError("The file has a header but no rows to import.", field="file")
    return Sheet(name=name, rows=rows, problems=problems)


def _columns(texts: list[str], problems: list[str]) -> list[str | None]:
    columns: list[str | None] = []
    for text in texts:
        column = HEADERS.get(_header(text)) if text else None
        if text and column is None:
            problems.append(f"Unknown column “{text[:60]}”: the columns are {', '.join(COLUMNS)}.")
        elif column is not None and column in columns:
            problems.append(f"The column “{column}” appears twice.")
            column = None
        columns.append(column)
    problems += [f"The column “{c}” is missing." for c in REQUIRED if c not in columns]
    return columns


# --- the plan ------------------------------------------------------------------------------------


def import_plan(sheet: Sheet) -> ImportPlan:
    """Every row checked: alone, against the others, and against the database (seven queries at most,
    whatever the number of rows)."""
    rows = [_planned_row(row) for row in sheet.rows]
    _check_applications(rows)
    _check_duplicates(rows)
    _check_dependencies(rows)
    _check_trains(rows)
    _check_freezes(rows)
    return ImportPlan(sheet=sheet, rows=rows)


def _planned_row(row: SheetRow) -> PlannedRow:
    planned = PlannedRow(
        number=row.number,
        key=row["Application"],
        version=row["Version"],
        summary=row["Summary"],
        train_name=row["Train"],
        depends_on=[],
    )
    problems = planned.problems
    if row.extra:
        problems.append("It has values in columns without a known header.")
    for column in COLUMNS:
        text = row[column]
        if "\x00" in text:
            problems.append(f"{column} holds a NUL character.")
        elif len(text) > MAX_LENGTH[column]:
            problems.append(f"{column} is longer than {MAX_LENGTH[column]} characters.")
        elif column in REQUIRED and not text:
            problems.append(f"{column} is empty.")
    if problems:  # a cell that cannot be stored is not looked into further
        planned.key = planned.version = ""
        return planned
    planned.target_text, planned.freeze_text = row["Target date"], row["Code freeze"]
    planned.target = _day(row, "Target date", problems)
    planned.freeze = _day(row, "Code freeze", problems)
    if planned.target and planned.freeze and planned.freeze > planned.target:
        problems.append(
            f"The code freeze ({planned.freeze:%Y-%m-%d}) is after "
            f"the target date ({planned.target:%Y-%m-%d})."
        )
    names = [" ".join(part.split()) for part in row["Depends on"].split(";")]
    planned.depends_on = list(dict.fromkeys(name for name in names if name))
    if len(planned.depends_on) > MAX_DEPENDENCIES:
        problems.append(f"It depends on more than {MAX_DEPENDENCIES} releases.")
        planned.depends_on = []
    for name in planned.depends_on:
        if " " not in name:
            problems.append(f"Depends on “{name}”: write the application key and the version, e.g. PAY 4.2.")
    planned.depends_on = [name for name in planned.depends_on if " " in name]
    return planned


DAY_FIELD = PlanDateField(required=False)  # stateless: one for every cell


def _day(row: SheetRow, column: str, problems: list[str]) -> date | None:
    """The day a cell names, checked as the release form checks it (PlanDateField)."""
    text = row[column]
    if not text:
        return None
    try:
        return DAY_FIELD.clean(text)
    except ValidationError as error:
        if error.code == "out_of_range":
            problems.append(f"{column} “{text}”: {' '.join(error.messages)}")
        else:
            problems.append(f"{column} “{text}” is not a date: write it as YYYY-MM-DD, e.g. 2027-03-31.")
        return None


def _release_key(key: str, version: str) -> tuple[str, str]:
    return key.casefold(), version


def _check_applications(rows: list[PlannedRow]) -> None:
    keys = {row.key.casefold() for row in rows if row.key}
    applications = {
        app.key.casefold(): app
        for app in Application.objects.annotate(folded=Lower("key"))
        .filter(folded__in=keys)
        .select_related("portfolio")
    }
    for row in rows:
        if row.key:
            row.application = applications.get(row.key.casefold())
            if row.application is None:
                row.problems.append(f"No application has the key “{row.key}”.")
            else:
                row.key = row.application.key


def _check_duplicates(rows: list[PlannedRow]) -> None:
    """A release twice in the file, or already in the portal (one query)."""
    first: dict[tuple[str, str], int] = {}
    for row in rows:
        if row.application is None:
            continue
        name = _release_key(row.key, row.version)
        if name in first:
            row.problems.append(f"{row.name} is also on row {first[name]}.")
        else:
            first[name] = row.number
    existing = _existing_releases({(row.application.pk, row.version) for row in rows if row.application})
    for row in rows:
        if row.application and (row.application.pk, row.version) in existing:
            row.problems.append(f"{row.name} is already in the portal.")


def _existing_releases(pairs: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """{(application id, version): release id} of these pairs that exist (one query)."""
    if not pairs:
        return {}
    found = Release.objects.filter(
        application_id__in={a for a, _ in pairs}, version__in={v for _, v in pairs}
    ).values_list("application_id", "version", "pk")
    return {(a, v): pk for a, v, pk in found if (a, v) in pairs}


def _check_dependencies(rows: list[PlannedRow]) -> None:
    """Each "KEY version" is a row of this file (looked for first) or a release in the portal.

    Cycles are looked for among the file's rows only: a release in the portal cannot depend on one
    that does not exist yet, so no path leads from the portal's graph back into the file, and a cycle
    must lie wholly in the file. (dependency_add checks the whole graph again as it writes.)"""
    in_file: dict[tuple[str, str], int] = {}
    for row in rows:
        if row.key and row.version:
            in_file.setdefault(_release_key(row.key, row.version), row.number)
    wanted = {_release_key(*name.split(" ", 1)) for row in rows for name in row.depends_on} - set(in_file)
    existing = _existing_named({key for key, _ in wanted}, {version for _, version in wanted})
    for row in rows:
        for name in row.depends_on:
            reference = _release_key(*name.split(" ", 1))
            if reference == _release_key(row.key, row.version):
                row.problems.append("It depends on itself.")
            elif reference in in_file:
                row.upstream_rows.append(in_file[reference])
            elif reference in existing:
                row.upstream_ids.append(existing[reference])
            else:
                row.problems.append(f"Depends on “{name}”, which is neither in the portal nor in this file.")
    by_number = {row.number: row for row in rows}
    for cycle in _cycles({row.number: row.upstream_rows for row in rows}):
        names = " → ".join(by_number[n].name for n in [*cycle, cycle[0]])
        by_number[cycle[0]].problems.append(f"Its dependencies make a cycle: {names}.")


def _existing_named(keys: set[str], versions: set[str]) -> dict[tuple[str, str], int]:
    """{(folded key, version): release id} of releases in the portal among these (one query)."""
    if not keys:
        return {}
    found = (
        Release.objects.annotate(folded=Lower("application__key"))
        .filter(folded__in=keys, version__in=versions)
        .values_list("folded", "version", "pk")
    )
    return {(key, version): pk for key, version, pk in found}


def _cycles(ups: dict[int, list[int]]) -> list[list[int]]:
    """For every row on a cycle, one cycle through it (the row first): Tarjan's strongly connected
    components, iteratively, then a walk inside each component back to the row."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    components: list[list[int]] = []
    for root in ups:
        if root in index:
            continue
        work = [(root, iter(ups.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(ups.get(nxt, ()))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(component)
    return [_cycle_through(start, set(c), ups) for c in components for start in sorted(c)]


def _cycle_through(start: int, members: set[int], ups: dict[int, list[int]]) -> list[int]:
    """The shortest way from `start` back to itself within its component (breadth first)."""
    parent = {start: None}
    queue = [start]
    for node in queue:
        for nxt in ups.get(node, ()):
            if nxt == start:
                chain = [node]
                while parent[chain[-1]] is not None:
                    chain.append(parent[chain[-1]])
                return list(reversed(chain))
            if nxt in members and nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return [start]


def _check_trains(rows: list[PlannedRow]) -> None:
    """A train by its name: the one in the application's portfolio or nearest above it, else the only
    train of that name (one query, and the portfolios' parents once, shared with the freezes)."""
    names = {row.train_name.casefold() for row in rows if row.train_name and row.application}
    if not names:
        return
    trains: dict[str, list[ReleaseTrain]] = {}
    for train in ReleaseTrain.objects.annotate(folded=Lower("name")).filter(folded__in=names):
        trains.setdefault(train.name.casefold(), []).append(train)
    parents = Portfolio.objects.parents()
    for row in rows:
        if not (row.train_name and row.application):
            continue
        found = trains.get(row.train_name.casefold(), [])
        lineage = portfolio_lineage(row.application.portfolio_id, parents)
        near = sorted(
            (t for t in found if t.portfolio_id in lineage), key=lambda t: lineage.index(t.portfolio_id)
        )
        if near:
            row.train = near[0]
        elif len(found) == 1:
            row.train = found[0]
        elif found:
            row.problems.append(f"Several portfolios have a train “{row.train_name}”: none is {row.key}'s.")
        else:
            row.problems.append(f"No train is named “{row.train_name}”.")


def _check_freezes(rows: list[PlannedRow]) -> None:
    """A target inside a freeze of the application's portfolio (or above it, or global) is refused, as
    release_create refuses it: a new release has no override yet (frozen_targets: two queries)."""
    planned = [row for row in rows if row.application and row.target]
    targets = [(Release(application=row.application), row.target) for row in planned]
    for row, frozen in zip(planned, frozen_targets(targets), strict=True):
        if frozen is not None:
            row.problems.append(f"Its target date is inside a freeze: {frozen}")


# --- the template --------------------------------------------------------------------------------

HELP = (
    ("Application", "Required. The application's key, e.g. PAY."),
    ("Version", "Required. Unique per application. Kept as text: 4.10 stays 4.10."),
    ("Target date", "Required. A day, e.g. 2027-03-31; not inside a freeze."),
    ("Code freeze", "Optional. On or before the target date."),
    ("Summary", "Optional. At most 300 characters."),
    ("Train", "Optional. A release train's name."),
    ("Depends on", "Optional. KEY version; KEY version: releases in the portal or rows of this file."),
)


def template_xlsx() -> bytes:
    """The columns to fill as a workbook: versions typed as text, dates as dates, and a sheet of help."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Releases"
    sheet.append(list(COLUMNS))
    for letter, column in zip("ABCDEFG", COLUMNS, strict=True):
        sheet.column_dimensions[letter].width = max(14, len(column) + 4)
        style = {"Version": "@", "Target date": "yyyy-mm-dd", "Code freeze": "yyyy-mm-dd"}.get(column)
        if style:  # the column's own format: what is typed into it later takes it
            sheet.column_dimensions[letter].number_format = style
    sheet.freeze_panes = "A2"
    help_sheet = workbook.create_sheet("Help")
    for row in (("Column", "What to write"), *HELP):
        help_sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
