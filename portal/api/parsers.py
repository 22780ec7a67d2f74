"""Request bodies of the REST API: a JSON object, read by the same bounded parser as the pipeline API
(releases.params.json_object: valid, an object, nested no deeper than 32), with finite numbers."""

import math

from rest_framework.parsers import JSONParser

from releases import params
from releases.errors import DomainError


def _finite(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


class JsonObjectParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = params.json_object(stream.read() if stream is not None else b"", empty={})
        if not _finite(data):
            raise DomainError("Send finite numbers: the body holds a number too large for any field.")
        return data
