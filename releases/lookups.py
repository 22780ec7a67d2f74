"""`field__any_of=values`: membership in a list sent as ONE parameter, not one placeholder per value.

`__in` with a thousand values builds, sends and parses a thousand placeholders, and its statement
text changes with the list's length, so no driver or server cache helps. A sync asks such questions
every page; with `any_of` the statement is the same for any length: PostgreSQL gets an array
(`= ANY(%s::type[])`, which uses the column's index), SQLite a JSON list (`IN (SELECT value FROM
json_each(%s))`). Registered on every field and relation by ReleasesConfig.ready().
bench/lookups.py measures it against `__in`: at a sync page's 1,000 values `__in` takes 1.5-2x as
long on PostgreSQL, and about the same at 10.
"""

import json

from django.db.models import Lookup


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if connection.vendor == "postgresql":
            db_type = self.lhs.output_field.cast_db_type(connection)
            return f"{lhs} = ANY(%s::{db_type}[])", [*params, values]
        return f"{lhs} IN (SELECT value FROM json_each(%s))", [*params, json.dumps(values)]  # noqa: S608
