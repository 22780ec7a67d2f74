"""`field__any_of=[...]`: one array parameter on PostgreSQL (`= ANY(%s)`), however long the list.

A sync page filters on a thousand ids at a time; as `IN (%s, %s, ...)` that is a thousand parameters
to prepare in Python and a long statement for the driver to parse, every page. SQLite gets the IN.
"""

from django.db import models
from django.db.models import Lookup


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if not values:
            return "1 = 0", []
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


for field in (models.CharField, models.ForeignKey, models.BigAutoField):
    field.register_lookup(AnyOf)
