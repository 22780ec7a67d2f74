"""The API's media types: JSON, and problem details for a client that accepts only those."""

from rest_framework.renderers import JSONRenderer


class ProblemJsonRenderer(JSONRenderer):
    """Lets a client that accepts only application/problem+json be answered (errors in that type)."""

    media_type = "application/problem+json"
