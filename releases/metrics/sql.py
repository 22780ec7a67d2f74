"""Small SQL helpers the measures share."""

from django.db.models import Func, IntegerField


class DaysBetween(Func):
    """Whole days from `earlier` to `later` (dates, or the dates of datetimes in UTC), as an integer the
    database compares and averages itself: Django's own date subtraction calls back into Python for
    every row on SQLite, which made a year of releases take half a second."""

    output_field = IntegerField()
    arity = 2

    def __init__(self, later, earlier, **extra):
        super().__init__(later, earlier, **extra)

    def as_sql(self, compiler, connection, **extra):  # PostgreSQL: date - date is an integer
        return super().as_sql(
            compiler, connection, template="(%(expressions)s::date)", arg_joiner="::date - ", **extra
        )

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(
            compiler,
            connection,
            template="CAST(julianday(date(%(expressions)s)) AS INTEGER)",
            arg_joiner=")) - julianday(date(",
            **extra,
        )
