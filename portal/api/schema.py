"""The schema's error answers: every operation documents the problem details (RFC 9457) it may answer,
with the body's schema (the `Problem` component), so a client (and the schema fuzzing in
tests/api/test_fuzz.py) knows every status code and body the API can give.

- every operation: 401 (no or a bad token) and 403 (a permission the page would need too);
- reads: 400 (a filter, ordering or page parameter that is not valid) and 404 (no such id or page);
- writes: 400, 404, 409 and 422 (portal.api.problems says when each);
- the gate sign-off: 429 as well (too many wrong passwords).
The pipeline's kept paths (/api/can-deploy ...) keep their own {"detail": ...} answers, documented
by portal.api.legacy. Applied as a drf-spectacular postprocessing hook by the schema view
(portal.api.urls.SchemaDetail).
"""

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "Problem details (RFC 9457); `errors` names the fields that are wrong.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        "winner": {"type": "integer", "description": "409 on a booking: the booking holding the slot"},
    },
    "required": ["type", "title", "status", "detail"],
}
V1 = "/api/v1/"
REF = {"$ref": "#/components/schemas/Problem"}
ERROR_DESCRIPTIONS = {
    400: "The request is not valid (a field, filter or parameter says why).",
    401: "No token, or one that is revoked, expired or unknown.",
    403: "The account lacks the permission, or the rules refuse it.",
    404: "Nothing has that id (or the page is past the last).",
    409: "A conflict: a taken slot, a cycle, a stale state, a state that no longer allows it.",
    422: "Well-formed input the domain refuses.",
    429: "Too many wrong passwords: signing is paused.",
}
READ_ERRORS = (400, 401, 403, 404)
WRITE_ERRORS = (400, 401, 403, 404, 409, 422)


def problem_response(status: int) -> dict:
    return {
        "description": ERROR_DESCRIPTIONS[status],
        "content": {media: {"schema": REF} for media in ("application/json", "application/problem+json")},
    }


def document_problems(result, generator, request, public):
    """Every operation's error answers, each with the Problem body (replacing bare descriptions)."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, item in result.get("paths", {}).items():
        if not path.startswith(V1):
            continue  # the pipeline's kept paths answer {"detail": ...} (portal.api.legacy documents them)
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            codes = READ_ERRORS if method == "get" else WRITE_ERRORS
            codes = {*codes, *(int(code) for code in responses if code.isdigit() and int(code) >= 400)}
            for status in sorted(codes):
                if status in ERROR_DESCRIPTIONS and "content" not in responses.get(str(status), {}):
                    responses[str(status)] = problem_response(status)
    return result


POSTPROCESSING_HOOKS = [
    "drf_spectacular.hooks.postprocess_schema_enums",
    "portal.api.schema.document_problems",
]
