"""Small SQL helpers the measures share."""

from django.db.models import DateField, FloatField, Func, IntegerField


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


class HoursBetween(Func):
    """Hours (fractional) from `earlier` to `later`, two datetimes, computed by the database."""

    output_field = FloatField()
    arity = 2

    def as_sql(self, compiler, connection, **extra):  # PostgreSQL
        return super().as_sql(
            compiler,
            connection,
            template="(EXTRACT(EPOCH FROM (%(expressions)s)) / 3600.0)",
            arg_joiner=" - ",
            **extra,
        )

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 24.0)",
            arg_joiner=") - julianday(",
            **extra,
        )


class UtcDay(Func):
    """The day (in UTC) of a datetime, by the database's own cast: TruncDate calls back into Python for
    every row on SQLite."""

    output_field = DateField()
    arity = 1

    def as_sql(self, compiler, connection, **extra):  # PostgreSQL: the session's time zone is UTC
        return super().as_sql(compiler, connection, template="(%(expressions)s)::date", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="date(%(expressions)s)", **extra)
